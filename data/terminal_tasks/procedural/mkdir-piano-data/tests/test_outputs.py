from pathlib import Path


def test_file():
    assert Path('/app/piano/data.txt').is_file()
