from pathlib import Path


def test_file():
    assert Path('/app/robot/answer.txt').is_file()
