from pathlib import Path


def test_file():
    assert Path('/app/honey/word.txt').is_file()
