from pathlib import Path


def test_file():
    assert Path('/app/apple/result.txt').is_file()
