import os
import subprocess


def test_is_executable():
    assert os.access("/app/greet.sh", os.X_OK)


def test_output():
    out = subprocess.run(["/app/greet.sh", "bob"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "hi bob"
