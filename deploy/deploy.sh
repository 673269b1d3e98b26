#!/usr/bin/env bash
# deploy/deploy.sh: build, push and roll out ragd on Kubernetes, and roll back when it fails.
#
# Usage: deploy/deploy.sh --overlay single-node|scale-out --context KUBE_CONTEXT [options]
#
#   --overlay NAME      deploy/k8s/overlays/NAME: single-node (StatefulSet) or scale-out
#                       (Deployment)                                       [RAGD_OVERLAY]
#   --context NAME      the kubeconfig context to deploy to; never the current one by default
#                                                                          [RAGD_KUBE_CONTEXT]
#   --namespace NAME    target namespace (default: ragd, the overlays')    [RAGD_NAMESPACE]
#   --registry REPO     where the image is pushed, e.g. ghcr.io/ragd-dev (the image is
#                       REPO/ragd; default ghcr.io/ragd-dev)               [RAGD_REGISTRY]
#   --tag TAG           the image tag (default: the commit, git rev-parse --short=12 HEAD;
#                       `latest` is refused: a deploy names one immutable build)  [RAGD_TAG]
#   --platform P        docker build --platform, e.g. linux/amd64 when building on arm64
#                                                                          [RAGD_PLATFORM]
#   --timeout DUR       how long the rollout may take (default 10m)       [RAGD_ROLLOUT_TIMEOUT]
#   --url URL           smoke-test this URL (e.g. the ingress) instead of a port-forward to
#                       svc/ragd                                           [RAGD_SMOKE_URL]
#   --skip-build        deploy REGISTRY/ragd:TAG as already pushed (no build, no push)
#   --force             deploy from a git tree with uncommitted or untracked changes
#   --dry-run           check everything and render the manifests (printed on stdout), but
#                       only print the commands that build, push, apply, wait, test or roll back
#   -h, --help          this text
#
# Steps: checks (tools, arguments, kube context, overlay secrets, clean git tree) -> docker build
# -> docker push -> render the overlay with the new image (by digest when known) in a temporary
# copy of deploy/k8s (kubectl kustomize; the repository is never edited) -> on a cluster without
# the namespace, create it from deploy/k8s/namespace.yaml (renamed to --namespace; the overlays
# leave it out on purpose, see that file) -> kubectl diff -> kubectl apply -> kubectl rollout
# status --timeout -> smoke test: GET /health/ready must answer
# 200, and when credentials are given a real POST /query must answer 200 with an answer. When the
# rollout or the smoke test fails, `kubectl rollout undo` restores the previous revision (and,
# for the StatefulSet, deletes the pod stuck on the bad revision, which Kubernetes does not
# replace by itself), waits for it, and the script exits 1.
#
# Smoke-test credentials (optional; without them only readiness is tested):
#   RAGD_SMOKE_API_KEY                            an API key with the `query` scope, or
#   RAGD_SMOKE_USERNAME + RAGD_SMOKE_PASSWORD     a user to log in with
# Build arguments passed through when set: RUST_IMAGE, RUNTIME_IMAGE, LLM (deploy/docker/Dockerfile).
# Needs: docker (with BuildKit), kubectl (>= 1.27, with its built-in kustomize), git, curl.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image_name=ragd
workload=ragd
overlay=${RAGD_OVERLAY:-}
context=${RAGD_KUBE_CONTEXT:-}
namespace=${RAGD_NAMESPACE:-ragd}
registry=${RAGD_REGISTRY:-ghcr.io/ragd-dev}
tag=${RAGD_TAG:-}
platform=${RAGD_PLATFORM:-}
timeout=${RAGD_ROLLOUT_TIMEOUT:-10m}
smoke_url=${RAGD_SMOKE_URL:-}
skip_build=false
force=false
dry_run=false

say() { echo "deploy: $*" >&2; }
die() { echo "deploy: error: $*" >&2; exit 1; }
usage() { sed -n '4,25s/^# \{0,1\}//p' "$0"; }

# Prints a command, shell-quoted, then runs it (or only prints it with --dry-run).
run() {
  local quoted
  printf -v quoted '%q ' "$@"
  if $dry_run; then
    echo "[dry-run] ${quoted% }" >&2
    return 0
  fi
  echo "+ ${quoted% }" >&2
  "$@"
}

# --- arguments --------------------------------------------------------------------------------
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }
tag_given=false
[ -z "$tag" ] || tag_given=true
while [ $# -gt 0 ]; do
  case $1 in
    --overlay) need_value "$@"; overlay=$2; shift 2 ;;
    --context) need_value "$@"; context=$2; shift 2 ;;
    --namespace) need_value "$@"; namespace=$2; shift 2 ;;
    --registry) need_value "$@"; registry=$2; shift 2 ;;
    --tag) need_value "$@"; tag=$2; tag_given=true; shift 2 ;;
    --platform) need_value "$@"; platform=$2; shift 2 ;;
    --timeout) need_value "$@"; timeout=$2; shift 2 ;;
    --url) need_value "$@"; smoke_url=$2; shift 2 ;;
    --overlay=* | --context=* | --namespace=* | --registry=* | --tag=* | --platform=* | --timeout=* | --url=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    --skip-build) skip_build=true; shift ;;
    --force) force=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# --- checks: tools, arguments, cluster, secrets, git ------------------------------------------
for tool in docker kubectl git curl; do
  command -v "$tool" >/dev/null || die "$tool is missing: install it and put it on PATH"
done

[ -n "$overlay" ] || die "no overlay: pass --overlay single-node or --overlay scale-out (or RAGD_OVERLAY)"
overlay_dir=$root/deploy/k8s/overlays/$overlay
if ! [[ $overlay =~ ^[a-z0-9-]+$ ]] || [ ! -f "$overlay_dir/kustomization.yaml" ]; then
  die "no overlay '$overlay' in deploy/k8s/overlays/ (there: $(cd "$root/deploy/k8s/overlays" && echo */ | tr -d /))"
fi
contexts=$(kubectl config get-contexts -o name 2>/dev/null || true)
[ -n "$context" ] \
  || die "no kube context: pass --context NAME (or RAGD_KUBE_CONTEXT); contexts: ${contexts//$'\n'/ }"
grep -qxF -- "$context" <<<"$contexts" \
  || die "kube context '$context' is not in your kubeconfig (kubectl config get-contexts)"
[[ $namespace =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "'$namespace' is not a valid namespace name"
[[ $registry =~ ^[a-z0-9]([a-z0-9.:_/-]*[a-z0-9])?$ ]] \
  || die "'$registry' is not an image repository (lowercase, e.g. ghcr.io/ragd-dev)"
[[ $timeout =~ ^[0-9]+[smh]$ ]] || die "--timeout takes a duration like 600s, 10m or 1h, not '$timeout'"
if [ -n "$smoke_url" ]; then
  [[ $smoke_url =~ ^https?://[^[:space:]]+$ ]] || die "--url must be an http(s) URL, not '$smoke_url'"
  smoke_url=${smoke_url%/}
fi
if [ -n "${RAGD_SMOKE_USERNAME:-}" ] && [ -z "${RAGD_SMOKE_PASSWORD:-}" ]; then
  die "RAGD_SMOKE_USERNAME is set but RAGD_SMOKE_PASSWORD is not"
fi

# The overlay's secrets: generated into a Secret by kustomize, so they must exist, and ragd
# refuses to start without a real JWT secret: catch that before a rollout that cannot succeed.
secrets=$overlay_dir/secrets.env
[ -f "$secrets" ] \
  || die "$secrets is missing: cp $secrets.example $secrets and fill it in (it is never committed)"
# (ragd reads the file as an env file, where a value may be in single quotes.)
jwt=$(sed -n "/^JWT_SECRET_KEY=/{s///; s/^'\(.*\)'\$/\1/; p;}" "$secrets" | tail -n 1)
example_jwt=$(sed -n 's/^JWT_SECRET_KEY=//p' "$secrets.example" 2>/dev/null | tail -n 1)
[ -n "$jwt" ] || die "$secrets sets no JWT_SECRET_KEY (at least 32 random bytes: openssl rand -hex 32)"
[ "$jwt" != "$example_jwt" ] || die "$secrets still has the example JWT_SECRET_KEY: openssl rand -hex 32"
[ ${#jwt} -ge 32 ] || die "JWT_SECRET_KEY in $secrets is shorter than 32 characters"

# What is deployed must be a commit: a dirty tree would ship code no one can find again.
revision=unknown
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  revision=$(git -C "$root" rev-parse HEAD)
  dirty=$(git -C "$root" status --porcelain --untracked-files=normal)
  if [ -n "$dirty" ]; then
    $force || die "the git tree has uncommitted or untracked changes (git status); commit them, or pass --force"
    say "warning: deploying a dirty tree (--force):"
    head -n 20 <<<"$dirty" >&2
  fi
  [ -n "$tag" ] || tag=$(git -C "$root" rev-parse --short=12 HEAD)
  # A dirty build never takes the clean commit's tag.
  if [ -n "$dirty" ] && ! $tag_given; then tag=$tag-dirty-$(date -u +%Y%m%d%H%M%S); fi
else
  $force || die "$root is not a git checkout, so the image could not be traced to a commit; pass --force and --tag"
  [ -n "$tag" ] || die "not a git checkout: pass --tag"
fi
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "'$tag' is not a valid image tag"
[ "$tag" != latest ] || die "refusing the tag 'latest': deploy an immutable tag (the default is the commit)"
image=$registry/$image_name
ref=$image:$tag
kube=(kubectl --context "$context" --namespace "$namespace")

# --- workspace and cleanup --------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ragd-deploy.XXXXXX")
forward_pid=
applied=false
cleanup() {
  if [ -n "$forward_pid" ]; then kill "$forward_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
on_signal() {
  if $applied; then
    say "interrupted after the new manifests were applied; to go back to the previous revision run:"
    say "  kubectl --context $context --namespace $namespace rollout undo ${kind:-<kind>}/$workload"
  else
    say "interrupted before anything was applied to the cluster"
  fi
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

say "deploying $ref (commit $revision) to context '$context', namespace '$namespace', overlay '$overlay'$($dry_run && echo ' [dry run]')"

# --- build and push ---------------------------------------------------------------------------
digest=
if $skip_build; then
  say "--skip-build: checking that $ref exists in the registry"
  if ! $dry_run; then
    docker manifest inspect "$ref" >/dev/null 2>&1 \
      || die "$ref is not in the registry (or docker is not logged in to it): build without --skip-build"
  fi
else
  build=(docker build --file "$root/deploy/docker/Dockerfile" --tag "$ref"
    --build-arg "VERSION=$tag" --build-arg "REVISION=$revision"
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  for arg in RUST_IMAGE RUNTIME_IMAGE LLM; do
    if [ -n "${!arg:-}" ]; then build+=(--build-arg "$arg=${!arg}"); fi
  done
  if [ -n "$platform" ]; then build+=(--platform "$platform"); fi
  build+=("$root")
  run env DOCKER_BUILDKIT=1 "${build[@]}" || die "docker build failed; nothing was pushed or deployed"
  run docker push "$ref" \
    || die "docker push $ref failed (docker login ${registry%%/*}?); nothing was deployed"
  if ! $dry_run; then
    # Deploy by digest: the tag could be pushed again, the digest names exactly this build.
    digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" \
      | sed -n "s|^$image@\\(sha256:[0-9a-f]\\{64\\}\\)$|\\1|p" | head -n 1) || true
    [ -n "$digest" ] || say "warning: no registry digest for $ref; deploying by tag"
  fi
fi

# --- render -----------------------------------------------------------------------------------
# A copy of deploy/k8s (with the overlay's secrets.env) and a kustomization over the overlay that
# sets the image and namespace, so the repository's manifests are never edited.
cp -R "$root/deploy/k8s" "$work/k8s"
mkdir "$work/release"
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "namespace: $namespace"
  echo "resources:"
  echo "  - ../k8s/overlays/$overlay"
  echo "images:"
  echo "  - name: ghcr.io/ragd-dev/ragd"
  echo "    newName: $image"
  echo "    newTag: \"$tag\""
  if [ -n "$digest" ]; then echo "    digest: $digest"; fi
} >"$work/release/kustomization.yaml"
manifests=$work/manifests.yaml
kubectl kustomize "$work/release" >"$manifests" || die "kubectl kustomize of overlay '$overlay' failed"
# The Namespace (with its Pod Security labels), under the name deployed to: applied on its own,
# and only when it is missing, since the overlays leave it out (deploy/k8s/namespace.yaml).
mkdir "$work/namespace"
cp "$root/deploy/k8s/namespace.yaml" "$work/namespace/namespace.yaml"
printf '%s\n' "apiVersion: kustomize.config.k8s.io/v1beta1" "kind: Kustomization" \
  "namespace: $namespace" "resources:" "  - namespace.yaml" >"$work/namespace/kustomization.yaml"
namespace_manifest=$work/namespace.yaml
kubectl kustomize "$work/namespace" >"$namespace_manifest" || die "kubectl kustomize of deploy/k8s/namespace.yaml failed"
grep -qx "  name: $namespace" "$namespace_manifest" \
  || die "the rendered Namespace is not named '$namespace' (deploy/k8s/namespace.yaml)"
deployed_image=$image:$tag
if [ -n "$digest" ]; then deployed_image=$image:$tag@$digest; fi
# (kustomize keeps the tag beside the digest; older versions drop it)
grep -qF -e "image: $deployed_image" -e "image: $image@${digest:-no-digest}" "$manifests" \
  || die "the rendered manifests do not use $deployed_image (is the overlay's image still ghcr.io/ragd-dev/ragd?)"
kind=$(awk '/^kind: /{k=$2} /^  name: /{if ($2 == "'"$workload"'" && (k == "Deployment" || k == "StatefulSet")) print tolower(k)}' "$manifests" | head -n 1) || true
[ -n "$kind" ] || die "the overlay '$overlay' has no Deployment or StatefulSet named $workload"
say "rendered $(grep -c '^kind: ' "$manifests") objects; workload $kind/$workload, image $deployed_image"

# --- apply and wait ---------------------------------------------------------------------------
previous=
generation=
if ! $dry_run; then
  "${kube[@]}" auth can-i patch "$kind" >/dev/null 2>&1 \
    || die "context '$context' may not patch ${kind}s in namespace '$namespace' (kubectl auth can-i), or the cluster is unreachable"
  previous=$("${kube[@]}" get "$kind/$workload" --ignore-not-found \
    -o jsonpath='{.spec.template.spec.containers[?(@.name=="ragd")].image}')
  if [ -n "$previous" ]; then
    generation=$("${kube[@]}" get "$kind/$workload" -o jsonpath='{.metadata.generation}')
    say "running now: $previous"
  else
    say "first deploy of $kind/$workload in '$namespace'"
  fi
  # The namespaced objects cannot be applied (or diffed) into a namespace that does not exist.
  # --ignore-not-found: empty when it is missing; an error when it cannot be read (a deployer
  # without cluster-scoped rights), which is then taken as existing: the apply will tell.
  if ! found=$(kubectl --context "$context" get namespace "$namespace" --ignore-not-found -o name 2>"$work/namespace.err"); then
    say "cannot read namespace '$namespace' ($(head -c 200 "$work/namespace.err")); assuming it exists"
    found=namespace/$namespace
  fi
  created=
  if [ -z "$found" ]; then
    created=" (namespace '$namespace' was created)"
    say "namespace '$namespace' does not exist yet: creating it (deploy/k8s/namespace.yaml)"
    run kubectl --context "$context" apply -f "$namespace_manifest" \
      || die "cannot create namespace '$namespace'; a cluster admin can: kubectl apply -f deploy/k8s/namespace.yaml (named '$namespace'); nothing else was applied"
  fi
  say "changes against the cluster (kubectl diff):"
  diff_status=0
  "${kube[@]}" diff -f "$manifests" >&2 || diff_status=$?
  [ "$diff_status" -le 1 ] || die "kubectl diff failed (exit $diff_status); nothing was applied$created"
else
  echo "[dry-run] kubectl --context $context apply -f namespace.yaml, if namespace '$namespace' does not exist (printed first on stdout)" >&2
fi

diagnose() {
  say "pods and recent events:"
  "${kube[@]}" get pods -l "app.kubernetes.io/name=ragd" -o wide >&2 || true
  "${kube[@]}" get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 15 >&2 || true
}

# Rolls back to the previous revision and exits 1; STEP says what failed.
rollback() {
  local step=$1
  say "FAILED: $step"
  $dry_run && return 0
  diagnose
  if [ -z "$previous" ]; then
    say "this was the first deploy: there is no previous revision to go back to; $kind/$workload is left as it is for inspection"
    exit 1
  fi
  if [ "$("${kube[@]}" get "$kind/$workload" -o jsonpath='{.metadata.generation}')" = "$generation" ]; then
    # The apply left the pod template as it was: undo would go back to an older release.
    say "this deploy did not change $kind/$workload (same image and settings), so there is nothing to roll back; it was failing before"
    exit 1
  fi
  say "rolling back $kind/$workload to the previous revision ($previous)"
  "${kube[@]}" rollout undo "$kind/$workload" || { say "kubectl rollout undo failed: fix it by hand"; exit 1; }
  if [ "$kind" = statefulset ]; then
    # A StatefulSet does not replace a pod that never became ready on the bad revision (forced
    # rollback, see the Kubernetes StatefulSet docs): delete the pods not on the restored one.
    local current pod hash
    sleep 2
    current=$("${kube[@]}" get "statefulset/$workload" -o jsonpath='{.status.updateRevision}')
    while read -r pod hash; do
      if [ -n "$pod" ] && [ "$hash" != "$current" ]; then
        say "deleting pod $pod (revision $hash, not the restored $current)"
        "${kube[@]}" delete pod "$pod" --wait=false || true
      fi
    done < <("${kube[@]}" get pods -l "app.kubernetes.io/name=ragd" \
      -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.labels.controller-revision-hash}{"\n"}{end}')
  fi
  if "${kube[@]}" rollout status "$kind/$workload" --timeout="$timeout"; then
    say "rolled back: $kind/$workload runs $previous again. The deploy of $deployed_image failed ($step)."
  else
    say "the rollback did not become ready within $timeout either: look at the cluster now"
    diagnose
  fi
  exit 1
}

run "${kube[@]}" apply -f "$manifests" || die "kubectl apply failed; check what was applied with kubectl get -n $namespace all"
applied=true
say "waiting for the rollout (at most $timeout)"
run "${kube[@]}" rollout status "$kind/$workload" --timeout="$timeout" || rollback "the rollout did not complete within $timeout"

# --- smoke test -------------------------------------------------------------------------------
smoke() { # BASE_URL
  local base=$1 body code token
  code=$(curl -sS -o "$work/ready.json" -w '%{http_code}' --max-time 10 "$base/health/ready") || code=000
  [ "$code" = 200 ] || { say "GET $base/health/ready answered $code: $(head -c 300 "$work/ready.json" 2>/dev/null)"; return 1; }
  say "GET /health/ready: 200"
  # Credentials go to curl in a header file (-H @file), never on its command line.
  local auth=$work/auth.header
  if [ -n "${RAGD_SMOKE_API_KEY:-}" ]; then
    printf 'X-API-Key: %s\n' "$RAGD_SMOKE_API_KEY" >"$auth"
  elif [ -n "${RAGD_SMOKE_USERNAME:-}" ]; then
    # The password goes to curl on stdin (--data-urlencode password@-), never on its command line.
    code=$(printf '%s' "$RAGD_SMOKE_PASSWORD" | curl -sS -o "$work/login.json" -w '%{http_code}' --max-time 30 \
      -X POST "$base/auth/login" --data-urlencode "username=$RAGD_SMOKE_USERNAME" \
      --data-urlencode "password@-") || code=000
    [ "$code" = 200 ] || {
      say "POST /auth/login answered $code (wrong RAGD_SMOKE_USERNAME/RAGD_SMOKE_PASSWORD, or the release broke logins): $(head -c 300 "$work/login.json")"
      return 1
    }
    token=$(sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p' "$work/login.json")
    [ -n "$token" ] || { say "POST /auth/login answered no access_token"; return 1; }
    say "POST /auth/login: 200"
    printf 'Authorization: Bearer %s\n' "$token" >"$auth"
  else
    say "no RAGD_SMOKE_API_KEY or RAGD_SMOKE_USERNAME/RAGD_SMOKE_PASSWORD: skipping the /query test"
    return 0
  fi
  body='{"query": "What is this knowledge base about?", "max_results": 1}'
  code=$(curl -sS -o "$work/query.json" -w '%{http_code}' --max-time 120 -X POST "$base/query" \
    -H "@$auth" -H 'Content-Type: application/json' --data "$body") || code=000
  if [ "$code" != 200 ] || ! grep -q '"answer"' "$work/query.json"; then
    say "POST /query answered $code: $(head -c 300 "$work/query.json")"
    return 1
  fi
  say "POST /query: 200 with an answer"
}

if $dry_run; then
  if [ -n "$smoke_url" ]; then
    echo "[dry-run] smoke test: GET $smoke_url/health/ready, then POST /query with the smoke credentials" >&2
  else
    echo "[dry-run] ${kube[*]} port-forward svc/ragd :8000, then the smoke test through it" >&2
  fi
  echo "[dry-run] on failure: ${kube[*]} rollout undo $kind/$workload" >&2
  cat "$namespace_manifest"
  echo "---"
  cat "$manifests"
  say "dry run done: the checks passed and the manifests render ($deployed_image; printed on stdout)"
  exit 0
fi

base=$smoke_url
if [ -z "$base" ]; then
  # A random local port: kubectl prints the one it took.
  "${kube[@]}" port-forward "svc/ragd" :8000 >"$work/port-forward.log" 2>&1 &
  forward_pid=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/port-forward.log" | head -n 1) || true
    [ -z "$port" ] || break
    kill -0 "$forward_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "${port:-}" ] || { cat "$work/port-forward.log" >&2; rollback "kubectl port-forward to svc/ragd did not start"; }
  base=http://127.0.0.1:$port
fi
say "smoke test against $base"
smoke_ok=false
for attempt in 1 2 3; do
  if smoke "$base"; then smoke_ok=true; break; fi
  [ "$attempt" = 3 ] || { say "smoke test attempt $attempt failed; again in 5 s"; sleep 5; }
done
$smoke_ok || rollback "the smoke test against $base failed"

say "done: $kind/$workload in '$namespace' on '$context' runs $deployed_image (commit $revision)"
