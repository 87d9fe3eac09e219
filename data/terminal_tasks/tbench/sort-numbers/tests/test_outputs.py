from pathlib import Path


def test_sorted_exists():
    assert Path("/app/sorted.txt").exists()


def test_sorted_numerically():
    nums = [int(x) for x in Path("/app/numbers.txt").read_text().split()]
    got = [int(x) for x in Path("/app/sorted.txt").read_text().split()]
    assert got == sorted(nums)
