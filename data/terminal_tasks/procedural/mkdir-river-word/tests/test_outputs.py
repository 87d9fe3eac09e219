from pathlib import Path


def test_file():
    assert Path('/app/river/word.txt').is_file()
