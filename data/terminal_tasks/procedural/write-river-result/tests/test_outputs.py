from pathlib import Path


def test_content():
    assert Path('/app/result.txt').read_text().strip() == 'river'
