from pathlib import Path


def test_file():
    assert Path('/app/lemon/result.txt').is_file()
