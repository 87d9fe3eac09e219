from pathlib import Path


def test_file():
    assert Path('/app/stone/answer.txt').is_file()
