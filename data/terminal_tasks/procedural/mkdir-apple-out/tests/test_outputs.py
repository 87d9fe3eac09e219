from pathlib import Path


def test_file():
    assert Path('/app/apple/out.txt').is_file()
