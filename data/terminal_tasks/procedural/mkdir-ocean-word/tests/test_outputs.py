from pathlib import Path


def test_file():
    assert Path('/app/ocean/word.txt').is_file()
