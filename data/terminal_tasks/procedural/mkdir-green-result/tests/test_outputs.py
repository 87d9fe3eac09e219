from pathlib import Path


def test_file():
    assert Path('/app/green/result.txt').is_file()
