from pathlib import Path


def test_file():
    assert Path('/app/green/answer.txt').is_file()
