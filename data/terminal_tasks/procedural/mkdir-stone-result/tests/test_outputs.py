from pathlib import Path


def test_file():
    assert Path('/app/stone/result.txt').is_file()
