from pathlib import Path


def test_file():
    assert Path('/app/tiger/out.txt').is_file()
