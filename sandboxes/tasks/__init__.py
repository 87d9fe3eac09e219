"""Terminal task directories (our format and Terminal-Bench 0.2.x), task images, and the `run` CLI."""
