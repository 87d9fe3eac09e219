from pathlib import Path


def test_content():
    assert Path('/app/answer.txt').read_text().strip() == 'river'
