from pathlib import Path


def test_content():
    assert Path('/app/data.txt').read_text().strip() == 'lemon'
