from pathlib import Path


def test_file():
    assert Path('/app/stone/out.txt').is_file()
