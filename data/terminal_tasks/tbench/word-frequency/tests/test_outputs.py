import re
from collections import Counter
from pathlib import Path


def expected():
    words = re.findall(r"[a-z]+", Path("/app/corpus.txt").read_text().lower())
    return sorted(Counter(words).items(), key=lambda kv: (-kv[1], kv[0]))[:5]


def test_file_in_workdir():
    assert Path("/app/top_words.txt").is_file()


def test_counts():
    lines = Path("/app/top_words.txt").read_text().split("\n")
    got = [ln.split() for ln in lines if ln.strip()]
    assert [(w, int(c)) for w, c in got] == expected()
