#!/bin/bash
source $TEST_DIR/setup-uv-pytest.sh
uv add tabulate==0.9.0
bash $TEST_DIR/run-uv-pytest.sh
