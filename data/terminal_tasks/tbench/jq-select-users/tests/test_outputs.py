import json
from pathlib import Path


def test_selection():
    users = json.loads(Path("/app/users.json").read_text())
    want = sorted(u["name"] for u in users if u["active"] and u["age"] >= 30)
    assert Path("/app/selected.txt").read_text().split() == want


def test_jq_installed():
    assert Path("/usr/bin/jq").exists()
