from pathlib import Path


def test_file():
    assert Path('/app/tiger/data.txt').is_file()
