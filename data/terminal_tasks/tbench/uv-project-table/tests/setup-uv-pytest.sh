#!/bin/bash
# Terminal-Bench's test setup (downloads uv). mispo reads the packages named here and installs them offline.
apt-get update
apt-get install -y curl
curl -LsSf https://astral.sh/uv/0.7.13/install.sh | sh
source $HOME/.local/bin/env
uv init
uv add pytest==8.4.1
