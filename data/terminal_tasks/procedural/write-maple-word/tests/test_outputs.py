from pathlib import Path


def test_content():
    assert Path('/app/word.txt').read_text().strip() == 'maple'
