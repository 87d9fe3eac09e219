from pathlib import Path


def test_file():
    assert Path('/app/lemon/answer.txt').is_file()
