from pathlib import Path


def test_file():
    assert Path('/app/honey/notes.txt').is_file()
