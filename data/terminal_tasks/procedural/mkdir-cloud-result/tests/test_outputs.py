from pathlib import Path


def test_file():
    assert Path('/app/cloud/result.txt').is_file()
