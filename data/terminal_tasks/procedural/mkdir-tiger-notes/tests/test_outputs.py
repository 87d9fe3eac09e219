from pathlib import Path


def test_file():
    assert Path('/app/tiger/notes.txt').is_file()
