from pathlib import Path


def test_file():
    assert Path('/app/apple/notes.txt').is_file()
