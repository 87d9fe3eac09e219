from pathlib import Path


def test_file():
    assert Path('/app/ocean/notes.txt').is_file()
