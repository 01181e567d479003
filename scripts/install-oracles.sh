#!/usr/bin/env bash
# Installs the external oracles that detc's tests judge emitted queries with, every version pinned:
#   - oracles/kusto/node_modules: npm @kusto/language-service-next 12.4.1 (Microsoft's Kusto.Language),
#     from oracles/kusto/package-lock.json with `npm ci`;
#   - .oracles/venv: a Python venv with sigma-cli 3.1.0, pySigma 1.5.1, pySigma-backend-kusto 1.0.1,
#     pySigma-backend-splunk 2.1.0, duckdb-kql 1.1.2, duckdb 2.0.1, jsonschema 4.26.0 (SARIF) and
#     mitreattack-python 6.3.1 (navlayers, the ATT&CK Navigator layer oracle), from
#     oracles/python/requirements.txt (exact versions and sha256 hashes).
# The Rust oracles (rsigma-parser / rsigma-eval) are cargo dev-dependencies: nothing to do here.
# Needs only: node 20 + npm, python3 (3.11) with venv and pip. Idempotent: a stamp holding the hash of
# the lock file skips a part that is already installed from the same lock (well under a second).
# Environment: PYTHON (default python3), FORCE=1 reinstalls both parts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

PYTHON=${PYTHON:-python3}
FORCE=${FORCE:-0}

die() {
  echo "install-oracles: $*" >&2
  exit 2
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

hash_of() {
  sha256sum "$@" | sha256sum | cut -d' ' -f1
}

# --- Kusto.Language (npm) -------------------------------------------------------------------
need node "install Node.js 20 (Debian: apt-get install nodejs npm)"
need npm "install npm"
kusto_dir="$root/oracles/kusto"
kusto_stamp="$kusto_dir/node_modules/.detc-stamp"
kusto_want=$(hash_of "$kusto_dir/package.json" "$kusto_dir/package-lock.json")
if [ "$FORCE" != 1 ] && [ -f "$kusto_stamp" ] && [ "$(cat "$kusto_stamp")" = "$kusto_want" ] &&
  [ -f "$kusto_dir/node_modules/@kusto/language-service-next/Kusto.Language.Bridge.js" ]; then
  echo "install-oracles: kusto oracle up to date"
else
  echo "install-oracles: installing @kusto/language-service-next (npm ci)"
  (cd "$kusto_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$kusto_want" >"$kusto_stamp"
fi

# --- Python oracles (venv) -------------------------------------------------------------------
need "$PYTHON" "install CPython 3.11 with venv and pip"
venv="$root/.oracles/venv"
req="$root/oracles/python/requirements.txt"
py_stamp="$venv/.detc-stamp"
py_want=$(hash_of "$req")
if [ "$FORCE" != 1 ] && [ -f "$py_stamp" ] && [ "$(cat "$py_stamp")" = "$py_want" ] &&
  [ -x "$venv/bin/sigma" ] && [ -x "$venv/bin/python" ]; then
  echo "install-oracles: python oracles up to date"
else
  echo "install-oracles: installing the python oracles into .oracles/venv"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes --only-binary=:all: -r "$req"
  echo "$py_want" >"$py_stamp"
fi

# --- smoke check: each oracle answers --------------------------------------------------------
echo '{"database":"db","tables":{},"queries":[{"name":"smoke","text":"print 1"}]}' |
  node "$kusto_dir/check.js" >/dev/null || die "the kusto oracle does not run (oracles/kusto/check.js)"
"$venv/bin/sigma" version >/dev/null || die "sigma-cli does not run"
"$venv/bin/python" -c 'import duckdb, duckdb_kql, jsonschema, sigma.backends.kusto, sigma.backends.splunk, mitreattack.navlayers' ||
  die "a python oracle does not import"
echo "install-oracles: ok"
