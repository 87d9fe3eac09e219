from pathlib import Path


def test_file():
    assert Path('/app/honey/data.txt').is_file()
