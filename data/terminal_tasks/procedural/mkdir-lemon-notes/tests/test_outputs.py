from pathlib import Path


def test_file():
    assert Path('/app/lemon/notes.txt').is_file()
