from pathlib import Path


def test_file():
    assert Path('/app/robot/word.txt').is_file()
