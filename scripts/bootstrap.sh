#!/usr/bin/env bash
# Set up everything csmine needs on a Debian machine: system packages (only when
# missing), a virtual environment in .venv and the project installed into it.
#   scripts/bootstrap.sh          runtime (graphviz, CJK fonts)
#   scripts/bootstrap.sh --test   also what the test suite needs (chromium; Java and the
#                                 [spark] extra for the Spark engine's tests)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null || missing+=(fonts-noto-cjk)
if [[ $want_test == 1 ]]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
fi
if (( ${#missing[@]} )); then
    echo "bootstrap: installing ${missing[*]}" >&2
    SUDO=""
    [[ $(id -u) != 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
extras=test
[[ $want_test == 1 ]] && extras=test,spark
stamp=.venv/.csmine-installed-${extras/,/-}
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".[$extras]"
    touch "$stamp"
fi
