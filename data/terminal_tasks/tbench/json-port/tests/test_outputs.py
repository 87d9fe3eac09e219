import json
from pathlib import Path


def test_port():
    cfg = json.loads(Path("/app/config.json").read_text())
    assert Path("/app/port.txt").read_text().strip() == str(cfg["server"]["port"])
