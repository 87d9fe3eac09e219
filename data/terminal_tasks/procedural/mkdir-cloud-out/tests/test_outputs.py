from pathlib import Path


def test_file():
    assert Path('/app/cloud/out.txt').is_file()
