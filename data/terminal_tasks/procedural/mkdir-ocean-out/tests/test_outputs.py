from pathlib import Path


def test_file():
    assert Path('/app/ocean/out.txt').is_file()
