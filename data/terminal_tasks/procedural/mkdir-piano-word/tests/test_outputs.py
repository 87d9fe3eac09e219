from pathlib import Path


def test_file():
    assert Path('/app/piano/word.txt').is_file()
