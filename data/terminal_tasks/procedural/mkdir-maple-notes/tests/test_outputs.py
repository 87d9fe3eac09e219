from pathlib import Path


def test_file():
    assert Path('/app/maple/notes.txt').is_file()
