from pathlib import Path


def test_file():
    assert Path('/app/cloud/word.txt').is_file()
