from pathlib import Path


def test_file():
    assert Path('/app/apple/word.txt').is_file()
