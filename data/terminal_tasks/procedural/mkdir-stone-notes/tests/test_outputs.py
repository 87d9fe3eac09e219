from pathlib import Path


def test_file():
    assert Path('/app/stone/notes.txt').is_file()
