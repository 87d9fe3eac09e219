#!/bin/bash
source $TEST_DIR/setup-uv-pytest.sh
uv add pandas==2.3.0
bash $TEST_DIR/run-uv-pytest.sh
