from pathlib import Path


def test_file():
    assert Path('/app/river/out.txt').is_file()
