"""Dockerized sandboxes (code execution, terminal tasks): see issue 5. Depends on nothing else in mispo."""
