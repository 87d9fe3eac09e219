from pathlib import Path


def test_file():
    assert Path('/app/maple/out.txt').is_file()
