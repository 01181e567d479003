#!/usr/bin/env bash
# Validates the security_content detections detc writes (queries/deploy/splunk-content/, or the
# folder given) with Splunk's own tool, contentctl 5.6.2 (PyPI `contentctl`):
#   1. installs contentctl into .oracles/contentctl from oracles/contentctl/requirements.txt
#      (exact versions; skipped when the stamp matches; the only step that needs the network);
#   2. `contentctl init` makes a fresh app in a temporary folder (the package's own template);
#   3. the template's sample detection is removed, detc's detections, data sources and story
#      are copied in;
#   4. `contentctl validate` (enrichments off, as init writes contentctl.yml: no MITRE or CVE
#      download) checks every object: required fields and their values, file names matching
#      names, the filter macro in each search, references to data sources and stories.
# Exit 0 when every object validates, 1 when contentctl reports a problem (its report is
# printed), 2 on a setup error. Environment: PYTHON (default python3), FORCE=1 reinstalls.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
content=${1:-queries/deploy/splunk-content}
PYTHON=${PYTHON:-python3}
FORCE=${FORCE:-0}

die() {
  echo "contentctl-validate: $*" >&2
  exit 2
}

[ -d "$content/detections" ] || die "$content/detections: no such folder (run detc compile --target all)"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install CPython 3.11 with venv and pip"

venv="$root/.oracles/contentctl"
req="$root/oracles/contentctl/requirements.txt"
stamp="$venv/.detc-stamp"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$FORCE" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/contentctl" ]; then
  echo "contentctl-validate: contentctl up to date"
else
  echo "contentctl-validate: installing contentctl into .oracles/contentctl"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  echo "$want" >"$stamp"
fi

app=$(mktemp -d)
trap 'rm -rf "$app"' EXIT
(cd "$app" && "$venv/bin/contentctl" init >/dev/null) || die "contentctl init failed"
rm -f "$app"/detections/*/*.yml
for sub in detections/endpoint detections/network data_sources stories; do
  if [ -d "$content/$sub" ]; then
    mkdir -p "$app/$sub"
    cp "$content/$sub"/*.yml "$app/$sub/" 2>/dev/null || true
  fi
done
n=$(find "$app/detections" -name '*.yml' | wc -l)
[ "$n" -gt 0 ] || die "no detection under $content/detections"
log="$app/validate.log"
if (cd "$app" && "$venv/bin/contentctl" validate >"$log" 2>&1); then
  echo "contentctl-validate: $n detections valid (contentctl $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("contentctl"))'))"
else
  grep -v 'Progress: ' "$log" | sed 's/\x1b\[[0-9;]*m//g' >&2
  echo "contentctl-validate: contentctl validate failed on $content" >&2
  exit 1
fi
