from pathlib import Path


def test_file():
    assert Path('/app/tiger/answer.txt').is_file()
