from pathlib import Path


def test_file():
    assert Path('/app/river/data.txt').is_file()
