from pathlib import Path


def test_file():
    assert Path('/app/maple/result.txt').is_file()
