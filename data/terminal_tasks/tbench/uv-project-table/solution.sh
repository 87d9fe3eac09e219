#!/bin/bash
curl -LsSf https://astral.sh/uv/0.7.13/install.sh | sh
source $HOME/.local/bin/env
mkdir -p /app/report && cd /app/report
uv init --no-readme
uv add tabulate==0.9.0
uv run python - <<'PY'
import csv
from tabulate import tabulate
rows = list(csv.reader(open("/app/langs.csv")))
open("/app/report/table.txt", "w").write(tabulate(rows[1:], headers=rows[0], tablefmt="simple") + "\n")
PY
