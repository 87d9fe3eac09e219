from pathlib import Path


def test_file():
    assert Path('/app/piano/answer.txt').is_file()
