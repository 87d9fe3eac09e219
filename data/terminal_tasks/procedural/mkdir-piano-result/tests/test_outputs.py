from pathlib import Path


def test_file():
    assert Path('/app/piano/result.txt').is_file()
