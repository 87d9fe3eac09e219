from pathlib import Path


def test_file():
    assert Path('/app/maple/data.txt').is_file()
