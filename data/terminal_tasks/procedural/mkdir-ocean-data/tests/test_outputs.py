from pathlib import Path


def test_file():
    assert Path('/app/ocean/data.txt').is_file()
