import subprocess


def run(*args):
    return subprocess.run(["python3", "/app/calc.py", *args], capture_output=True, text=True, timeout=10).stdout.strip()


def test_small():
    assert run("2", "3") == "5"


def test_negative():
    assert run("-4", "10") == "6"
