from pathlib import Path


def test_file():
    assert Path('/app/apple/data.txt').is_file()
