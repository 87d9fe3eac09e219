from pathlib import Path


def test_file():
    assert Path('/app/robot/notes.txt').is_file()
