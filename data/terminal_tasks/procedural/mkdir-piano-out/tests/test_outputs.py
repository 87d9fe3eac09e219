from pathlib import Path


def test_file():
    assert Path('/app/piano/out.txt').is_file()
