from pathlib import Path


def test_file():
    assert Path('/app/robot/data.txt').is_file()
