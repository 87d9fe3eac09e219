from pathlib import Path


def test_file():
    assert Path('/app/river/notes.txt').is_file()
