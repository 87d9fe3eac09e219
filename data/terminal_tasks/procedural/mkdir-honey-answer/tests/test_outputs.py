from pathlib import Path


def test_file():
    assert Path('/app/honey/answer.txt').is_file()
