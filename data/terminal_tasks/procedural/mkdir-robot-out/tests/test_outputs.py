from pathlib import Path


def test_file():
    assert Path('/app/robot/out.txt').is_file()
