#!/usr/bin/env bash
# `pip install ARGS` into the project venv, through uv when it can be used (measured on a fresh 2-core machine:
# the full `-e .[dev]` install 8 s with uv against 64-86 s with pip), else pip itself.
# uv does not read pip's configuration, so this passes it on: the index URL, extra index URLs, find-links,
# constraints and the CA bundle from `pip config list` (global, user, site and PIP_* environment entries), with
# pip's version choice across all indexes (--index-strategy unsafe-best-match) and bytecode compiled at install,
# as pip does. uv itself comes from PyPI into the venv (pip, once). Any uv failure falls back to pip, so a machine
# where uv cannot install still gets the same packages. Set MISPO_NO_UV=1 to always use pip.
# Usage: scripts/pip_install.sh PYTHON ARGS...   (PYTHON: the venv's python)
set -uo pipefail
PY=$1
shift
QUIET='is ignored: it is neither a file nor a directory'
pip_install() {
  "$PY" -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "$QUIET" || true; }
  return "${PIPESTATUS[0]}"
}
UV=$(dirname "$PY")/uv
if [ "${MISPO_NO_UV:-0}" != "1" ] && { [ -x "$UV" ] || pip_install uv; } && [ -x "$UV" ]; then
  args=()
  while IFS= read -r line; do  # key='value' lines, e.g. global.extra-index-url='a b'
    key=${line%%=*}; key=${key##*.}; value=${line#*=}; value=${value#\'}; value=${value%\'}
    for v in $value; do
      case $key in
        index-url) args+=(--index-url "$v") ;;
        extra-index-url) args+=(--extra-index-url "$v") ;;
        find-links) args+=(--find-links "$v") ;;
        constraint) args+=(--constraint "$v") ;;
        cert) export SSL_CERT_FILE=$v ;;
      esac
    done
  done < <("$PY" -m pip config list 2>/dev/null)
  if "$UV" pip install -q --python "$PY" --index-strategy unsafe-best-match --compile-bytecode "${args[@]}" "$@"; then
    exit 0
  fi
  echo "pip_install.sh: uv failed (above); installing with pip instead" >&2
fi
pip_install "$@"
