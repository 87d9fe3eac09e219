from pathlib import Path


def test_file():
    assert Path('/app/apple/answer.txt').is_file()
