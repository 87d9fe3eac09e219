from pathlib import Path


def test_file():
    assert Path('/app/lemon/word.txt').is_file()
