from pathlib import Path


def test_file():
    assert Path('/app/river/answer.txt').is_file()
