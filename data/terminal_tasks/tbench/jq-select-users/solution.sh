#!/bin/bash
apt-get update && apt-get install -y jq
jq -r '.[] | select(.active and .age >= 30) | .name' users.json | sort > selected.txt
