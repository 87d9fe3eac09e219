import csv
import tomllib
from pathlib import Path


def test_project_depends_on_tabulate():
    project = tomllib.loads(Path("/app/report/pyproject.toml").read_text())
    deps = project["project"]["dependencies"]
    assert any(d.replace(" ", "").startswith("tabulate==0.9.0") for d in deps), deps


def test_table():
    from tabulate import tabulate

    rows = list(csv.reader(open("/app/langs.csv")))
    want = tabulate(rows[1:], headers=rows[0], tablefmt="simple")
    assert Path("/app/report/table.txt").read_text().strip() == want.strip()
