import json
from pathlib import Path


def test_squares():
    assert json.loads(Path("/app/squares.json").read_text()) == [i * i for i in range(1, 13)]
