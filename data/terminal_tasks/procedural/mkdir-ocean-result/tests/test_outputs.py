from pathlib import Path


def test_file():
    assert Path('/app/ocean/result.txt').is_file()
