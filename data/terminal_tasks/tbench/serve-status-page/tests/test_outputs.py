import socket
import urllib.request


def test_status_page_served():
    body = urllib.request.urlopen("http://127.0.0.1:8080/status.txt", timeout=10).read().decode()
    assert body.strip() == f"ok {socket.gethostname()}"
