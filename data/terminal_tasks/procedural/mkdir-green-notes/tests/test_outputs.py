from pathlib import Path


def test_file():
    assert Path('/app/green/notes.txt').is_file()
