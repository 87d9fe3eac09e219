from pathlib import Path


def test_file():
    assert Path('/app/honey/result.txt').is_file()
