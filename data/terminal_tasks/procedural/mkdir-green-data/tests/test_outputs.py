from pathlib import Path


def test_file():
    assert Path('/app/green/data.txt').is_file()
