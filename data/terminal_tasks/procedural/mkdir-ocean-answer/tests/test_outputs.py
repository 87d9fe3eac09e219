from pathlib import Path


def test_file():
    assert Path('/app/ocean/answer.txt').is_file()
