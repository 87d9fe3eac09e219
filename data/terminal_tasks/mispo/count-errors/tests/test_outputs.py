from pathlib import Path


def test_count():
    text = Path("/app/server.log").read_text()
    expected = sum("ERROR" in line for line in text.splitlines())
    assert Path("/app/count.txt").read_text().strip() == str(expected)
