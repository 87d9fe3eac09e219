from pathlib import Path


def test_content():
    assert Path('/app/out.txt').read_text().strip() == 'lemon'
