#!/bin/bash
pip install tabulate==0.9.0
python - <<'PY'
import csv
from tabulate import tabulate
rows = list(csv.reader(open("/app/scores.csv")))
open("/app/table.txt", "w").write(tabulate(rows[1:], headers=rows[0], tablefmt="github") + "\n")
PY
