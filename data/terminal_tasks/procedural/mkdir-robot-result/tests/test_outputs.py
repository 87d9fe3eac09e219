from pathlib import Path


def test_file():
    assert Path('/app/robot/result.txt').is_file()
