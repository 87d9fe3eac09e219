from pathlib import Path


def test_file():
    assert Path('/app/stone/word.txt').is_file()
