from pathlib import Path


def test_file():
    assert Path('/app/tiger/word.txt').is_file()
