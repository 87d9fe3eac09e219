from pathlib import Path


def test_file():
    assert Path('/app/green/word.txt').is_file()
