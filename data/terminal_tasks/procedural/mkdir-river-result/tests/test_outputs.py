from pathlib import Path


def test_file():
    assert Path('/app/river/result.txt').is_file()
