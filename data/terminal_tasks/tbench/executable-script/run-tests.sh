#!/bin/bash
# Terminal-Bench's runner downloads uv + pytest; mispo runs the sandbox's own pytest instead (offline).
source $TEST_DIR/setup-uv-pytest.sh
bash $TEST_DIR/run-uv-pytest.sh
