from pathlib import Path


def test_file():
    assert Path('/app/lemon/out.txt').is_file()
