#!/usr/bin/env bash
# The GPU runner's Python environment: requirements/gpu-runner.txt (every package pinned
# and hashed; docs/gpu-runners.md says how it is made and refreshed) installed into a
# virtualenv kept between jobs, one per lock file and interpreter, so that a runner's
# stack changes only in a pull request that changes the lock.
#
#   bash scripts/ci_env.sh [LOCK]        # default requirements/gpu-runner.txt
#
# $PYTHON (default python3, the one actions/setup-python put on PATH) makes it. It
# prints the virtualenv; in a GitHub workflow it also puts its bin/ first on PATH
# (GITHUB_PATH) and this checkout's src/ on PYTHONPATH (GITHUB_ENV) for the later steps.
# The virtualenvs live in $VISIONBENCH_VENVS (default ~/.cache/visionbench/venvs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lock=$(realpath "${1:-$root/requirements/gpu-runner.txt}")
python=${PYTHON:-python3}
key=$({ cat "$lock"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
cache=${VISIONBENCH_VENVS:-${XDG_CACHE_HOME:-$HOME/.cache}/visionbench/venvs}
venv=$cache/$key
mkdir -p "$cache"
exec 9>"$cache/$key.lock"
flock 9  # runners of one machine share the cache: one builds, the others wait for it
if [ ! -f "$venv/.complete" ]; then
    echo "ci_env: installing $lock into $venv (once per lock and interpreter)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --require-hashes -r "$lock"
    touch "$venv/.complete"
else
    echo "ci_env: $venv holds $lock already" >&2
fi
echo "$venv"
if [ -n "${GITHUB_PATH:-}" ]; then
    echo "$venv/bin" >>"$GITHUB_PATH"
fi
if [ -n "${GITHUB_ENV:-}" ]; then
    echo "PYTHONPATH=$root/src" >>"$GITHUB_ENV"
fi
