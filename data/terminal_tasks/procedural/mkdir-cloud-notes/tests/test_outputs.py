from pathlib import Path


def test_file():
    assert Path('/app/cloud/notes.txt').is_file()
