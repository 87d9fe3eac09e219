from pathlib import Path


def test_file():
    assert Path('/app/cloud/data.txt').is_file()
