from pathlib import Path


def test_file():
    assert Path('/app/maple/answer.txt').is_file()
