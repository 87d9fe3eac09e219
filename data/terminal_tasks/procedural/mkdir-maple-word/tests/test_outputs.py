from pathlib import Path


def test_file():
    assert Path('/app/maple/word.txt').is_file()
