from pathlib import Path


def test_file():
    assert Path('/app/lemon/data.txt').is_file()
