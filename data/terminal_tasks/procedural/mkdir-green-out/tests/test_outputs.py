from pathlib import Path


def test_file():
    assert Path('/app/green/out.txt').is_file()
