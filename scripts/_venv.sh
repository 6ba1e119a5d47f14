# Shared by scripts/demo, scripts/test and scripts/bench: make .venv if it is missing
# and (re)install the project when pyproject.toml changed since the last install.
# Usage: . scripts/_venv.sh EXTRAS   (EXTRAS is "" or "test")
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

pick_python() {
    for py in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$py" ] || continue
        command -v "$py" >/dev/null 2>&1 || continue
        if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    echo "posterm needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

extras=${1:-}
if [ ! -x .venv/bin/python ]; then
    py=$(pick_python)
    echo "creating .venv with $py" >&2
    "$py" -m venv .venv || {
        echo "could not create .venv: on Debian/Raspberry Pi OS install python3-venv (apt install python3-venv)" >&2
        exit 1
    }
fi
stamp=".venv/.posterm-installed${extras:+-$extras}"
want=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing posterm${extras:+[$extras]} into .venv" >&2
    # pip's and the build backend's chatter (setuptools' editable-install banner, index warnings) is
    # kept in a log and shown only if the install fails
    log=.venv/install.log
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >"$log" 2>&1 || true
    spec="."
    [ -n "$extras" ] && spec=".[$extras]"
    if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" >>"$log" 2>&1; then
        cat "$log" >&2
        echo "installing posterm failed (the log above is in $log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
# posterm's own modules are imported from this checkout (an editable install), so nothing compiled
# their bytecode. Compile it now, as an update does a slot (firmware/bytecode.py; a few hundredths of a
# second when it is up to date): a shell that sets PYTHONDONTWRITEBYTECODE, or a tree the process may
# not write, would otherwise compile every module again at each start (about 0.25 s here: the tests
# start posterm hundreds of times). A file that does not compile is left for the run itself to report.
.venv/bin/python -c 'from pathlib import Path; from firmware.bytecode import compile_bytecode; compile_bytecode(Path("."))' \
    >/dev/null 2>&1 || true
