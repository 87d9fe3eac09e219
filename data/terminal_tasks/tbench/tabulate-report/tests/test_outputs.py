import csv
from pathlib import Path

from tabulate import tabulate


def test_table():
    rows = list(csv.reader(open("/app/scores.csv")))
    want = tabulate(rows[1:], headers=rows[0], tablefmt="github")
    assert Path("/app/table.txt").read_text().strip() == want.strip()
