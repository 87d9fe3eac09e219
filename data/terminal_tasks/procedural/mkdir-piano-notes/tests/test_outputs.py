from pathlib import Path


def test_file():
    assert Path('/app/piano/notes.txt').is_file()
