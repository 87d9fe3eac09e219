from pathlib import Path


def test_file():
    assert Path('/app/cloud/answer.txt').is_file()
