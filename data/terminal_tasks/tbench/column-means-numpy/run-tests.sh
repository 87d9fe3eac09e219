#!/bin/bash
source $TEST_DIR/setup-uv-pytest.sh
uv add numpy==2.3.1
bash $TEST_DIR/run-uv-pytest.sh
