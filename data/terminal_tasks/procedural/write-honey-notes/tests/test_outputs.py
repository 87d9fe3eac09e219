from pathlib import Path


def test_content():
    assert Path('/app/notes.txt').read_text().strip() == 'honey'
