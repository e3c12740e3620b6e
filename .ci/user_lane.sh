#!/usr/bin/env bash
# The user-install lane: build the wheel, install it with [testing] into a fresh virtualenv
# the way a user's project does (no dev extras, no lock file), then from a directory
# outside the checkout start `pixverse-mock serve`, drive one create -> poll -> download per
# provider against it (one process in memory, then two workers sharing a Redis), and run a
# user's own test file through the pytest plugin.
#
#   .ci/user_lane.sh newest   # the newest versions the package's bounds allow
#   .ci/user_lane.sh lowest   # every runtime and [testing] dependency at its lower bound
#
# Any failing step fails the lane.  Prints the versions it installed.
set -euo pipefail
MODE=${1:-newest}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pixverse-mock-user-lane.XXXXXX")
SERVER_PID=
REDIS_PID=
cleanup() {
  local status=$?
  if [ "$status" != 0 ] && [ -s "$WORK/serve.log" ]; then
    echo "== pixverse-mock serve's output:" >&2; tail -n 60 "$WORK/serve.log" >&2
  fi
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "== user lane ($MODE) in $WORK"

"$PYTHON" -m venv "$WORK/venv"
# This machine's pip configuration names local wheel folders that may be empty; pip's
# warnings about them are noise here.
pip() { "$WORK/venv/bin/python" -m pip --disable-pip-version-check "$@" 2> >(grep -v "is neither a file nor a directory" >&2); }
PIP=(pip)
"${PIP[@]}" install --quiet --upgrade pip
"${PIP[@]}" wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$ROOT"
WHEEL=$(ls "$WORK"/dist/pixverse_mock-*.whl)
# The contracts ship inside the wheel (mockserver/contracts links to contracts/).
"$WORK/venv/bin/python" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
missing = [n for n in ("freepik", "pixwith", "aimlapi", "pixverse", "admin")
           if f"mockserver/contracts/{n}.yaml" not in names]
sys.exit(f"the wheel lacks contracts: {missing}" if missing else 0)
PY

CONSTRAINTS=()
if [ "$MODE" = lowest ]; then
  # Each ">=X" bound of the runtime and [testing] dependencies, pinned to X.
  "$WORK/venv/bin/python" - "$ROOT/pyproject.toml" > "$WORK/lowest.txt" <<'PY'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for requirement in project["dependencies"] + project["optional-dependencies"]["testing"]:
    name, low = re.match(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", requirement).groups()
    print(f"{name}=={low}")
PY
  CONSTRAINTS=(--constraint "$WORK/lowest.txt")
elif [ "$MODE" != newest ]; then
  echo "usage: $0 newest|lowest" >&2; exit 2
fi
"${PIP[@]}" install --quiet --upgrade --upgrade-strategy eager "${CONSTRAINTS[@]}" "$WHEEL[testing]"
echo "== installed ($MODE):"
"${PIP[@]}" list --format=freeze | grep -v '^pixverse-mock' | tr '\n' ' '; echo

# A user's project: the reference clients as their client code, and their own test file.
mkdir -p "$WORK/project"
cp -r "$ROOT/examples" "$WORK/project/examples"
cp "$ROOT/.ci/user_project/smoke.py" "$ROOT/.ci/user_project/test_user_project.py" "$WORK/project/"
cd "$WORK/project"
export PIXVERSE_MOCK_MEDIA_CACHE_DIR="$WORK/media"

free_port() { "$WORK/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# smoke LABEL SERVE-ARGS...: start `pixverse-mock serve` with those arguments on a free
# port, run smoke.py against it, stop it with SIGTERM and require a clean exit.
smoke() {
  local label=$1; shift
  local port; port=$(free_port)
  echo "== smoke: $label"
  "$WORK/venv/bin/pixverse-mock" serve --host 127.0.0.1 --port "$port" --time-scale 1000 "$@" > "$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 300); do
    grep -q "listening on" "$WORK/serve.log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log"; echo "pixverse-mock serve exited at start-up" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "listening on" "$WORK/serve.log" || { cat "$WORK/serve.log"; echo "pixverse-mock serve did not start in 30 s" >&2; exit 1; }
  timeout 300 "$WORK/venv/bin/python" smoke.py "http://127.0.0.1:$port"
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || { cat "$WORK/serve.log"; echo "pixverse-mock serve did not exit cleanly on SIGTERM" >&2; exit 1; }
  SERVER_PID=
}
smoke "one process, state in memory"

# Two workers sharing a Redis of their own (Debian's redis-server, which .ci/run installs).
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
  --logfile "$WORK/redis.log" --daemonize no > /dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
  "$WORK/venv/bin/python" -c "import redis, sys; sys.exit(0 if redis.Redis(port=$REDIS_PORT).ping() else 1)" 2>/dev/null && break
  sleep 0.1
done
smoke "two workers, state in Redis" --workers 2 --redis "redis://127.0.0.1:$REDIS_PORT/0"
kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
REDIS_PID=

timeout 600 "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider test_user_project.py
echo "== user lane ($MODE) passed"
