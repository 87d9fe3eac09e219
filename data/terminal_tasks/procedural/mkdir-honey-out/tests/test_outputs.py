from pathlib import Path


def test_file():
    assert Path('/app/honey/out.txt').is_file()
