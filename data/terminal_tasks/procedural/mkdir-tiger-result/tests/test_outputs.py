from pathlib import Path


def test_file():
    assert Path('/app/tiger/result.txt').is_file()
