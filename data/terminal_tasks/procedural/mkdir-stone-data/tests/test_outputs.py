from pathlib import Path


def test_file():
    assert Path('/app/stone/data.txt').is_file()
