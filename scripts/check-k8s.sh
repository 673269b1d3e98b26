#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s, offline (part of `make test`):
#   1. renders each overlay with `kubectl kustomize` (its secrets.env.example standing in for the
#      secrets.env that is never committed; a real secrets.env is never read), and takes
#      deploy/k8s/namespace.yaml as it is;
#   2. validates every object against the Kubernetes $KUBERNETES_VERSION JSON schemas in strict
#      mode (an unknown field fails) with kubernetes-validate, which bundles the schemas;
#   3. lints them with checkov (skipped checks, each with its reason: deploy/k8s/checks/checkov.yaml);
#   4. checks what neither can see (shutdown arithmetic, ports, probes, the two modes, setting
#      names against ragd's source): deploy/k8s/checks/invariants.py.
# The tools come from PyPI into models/tools/<name>/, a venv each, pinned by
# deploy/k8s/checks/<name>.requirements.txt; installed on first use and whenever the pins change.
# Exits 1 if any overlay fails any step (every step still runs, to report everything at once).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S=deploy/k8s
CHECKS=$K8S/checks
TOOLS=models/tools
KUBERNETES_VERSION=1.32.0
OVERLAYS=(single-node scale-out)

log() { printf 'check-k8s: %s\n' "$*" >&2; }

# install_tool NAME: the venv $TOOLS/NAME with $CHECKS/NAME.requirements.txt, unless it is there
# with those very pins already.
install_tool() {
    local name=$1
    local dir=$TOOLS/$name requirements=$CHECKS/$name.requirements.txt stamp
    stamp=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ -f $dir/.installed && $(<"$dir/.installed") == "$stamp" ]]; then
        return
    fi
    log "installing $name into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$stamp" >"$dir/.installed"
}

command -v kubectl >/dev/null || {
    log "kubectl not found (its built-in kustomize renders the overlays)"
    exit 1
}
install_tool kubernetes-validate
install_tool checkov

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy without any real secrets.env, each overlay given its example instead.
tar -C "$(dirname "$K8S")" --exclude=secrets.env -cf - "$(basename "$K8S")" | tar -C "$work" -xf -
mkdir "$work/rendered"
cp "$K8S/namespace.yaml" "$work/rendered/namespace.yaml"

failed=0
rendered=()
for overlay in "${OVERLAYS[@]}"; do
    dir=$work/k8s/overlays/$overlay
    cp "$dir/secrets.env.example" "$dir/secrets.env"
    if kubectl kustomize "$dir" >"$work/rendered/$overlay.yaml"; then
        rendered+=("$overlay")
    else
        log "FAIL $overlay: kubectl kustomize"
        rm -f "$work/rendered/$overlay.yaml"
        failed=1
    fi
done

for manifest in namespace "${rendered[@]}"; do
    if ! "$TOOLS/kubernetes-validate/bin/kubernetes-validate" --strict --quiet \
        -k "$KUBERNETES_VERSION" "$work/rendered/$manifest.yaml"; then
        log "FAIL $manifest: Kubernetes $KUBERNETES_VERSION schemas (strict)"
        failed=1
    fi
done

if ! "$TOOLS/checkov/bin/checkov" --config-file "$CHECKS/checkov.yaml" -d "$work/rendered"; then
    log "FAIL checkov"
    failed=1
fi

pairs=()
for overlay in "${rendered[@]}"; do
    pairs+=("$overlay=$work/rendered/$overlay.yaml")
done
if ! "$TOOLS/kubernetes-validate/bin/python" "$CHECKS/invariants.py" crates "${pairs[@]}"; then
    log "FAIL invariants"
    failed=1
fi

if ((failed)); then
    log "deploy/k8s: FAILED"
    exit 1
fi
log "deploy/k8s: ${#rendered[@]} overlays rendered, valid for Kubernetes $KUBERNETES_VERSION (strict), checkov and invariants clean"
