"""What a schema or a policy linter cannot see in ragd's rendered manifests.

Run by scripts/check-k8s.sh (with the kubernetes-validate venv's Python, which has PyYAML):

    invariants.py SOURCE_DIR OVERLAY=RENDERED.yaml ...

SOURCE_DIR is the crates/ directory: the environment variable names ragd reads are taken from
its source, so a misspelt setting (which ragd would silently ignore) fails here. Each overlay
is checked for its mode: single-node (one StatefulSet replica on a volume claim, no database or
Redis URL, no autoscaler) or scale-out (a Deployment on PostgreSQL and Redis with an
autoscaler, a disruption budget and a surge-only rollout). Both are checked for the shutdown
arithmetic, the ports, the probes, the security context, the image's entrypoint kept (tini as
PID 1), the secrets read from a mounted Secret file (RAGD_ENV_FILE) and the memory limit against
ragd's measured footprint plus its parsers. Prints each problem and exits 1 if there is any.
"""

import base64
import pathlib
import re
import sys

import yaml

# ragd's pause between closing its listener and closing its connections (listener.rs).
CLOSE_GRACE_SECS = 0.3
# ragd's own memory in the default image (embedder and local LLM baked in), MiB: idle RSS in the
# container, 1,204-1,212 MiB (README "Deployment", "Figures"), plus ~280 MiB for an ingestion
# batch in flight (README "Benchmarks": peak 498 MiB against ~217 MiB idle without the LLM).
# The memory limit must hold this plus every parser process at RAGD_PARSER_MEMORY_MB.
RAGD_MEMORY_MIB = 1212 + 280
# The image's ENTRYPOINT is ["tini", "--", "ragd"] (deploy/docker/Dockerfile).
IMAGE_ARGS = ["serve"]
# A string literal that looks like an environment variable name, or clap's `env = "DEBUG"`.
ENV_NAME = re.compile(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"|env = "([A-Z][A-Z0-9_]*)"')
# A KEY=value line of an env file, commented out or not.
ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


def known_env_names(source: pathlib.Path) -> set[str]:
    names = set()
    for path in source.glob("*/src/**/*.rs"):
        for literal, clap_env in ENV_NAME.findall(path.read_text(encoding="utf-8")):
            names.add(literal or clap_env)
    return names


class Overlay:
    def __init__(self, name: str, path: str):
        self.name = name
        with open(path, encoding="utf-8") as f:
            self.docs = [d for d in yaml.safe_load_all(f) if d]
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(f"{self.name}: {message}")

    def of_kind(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def named(self, kind: str, name: str) -> dict | None:
        return next((d for d in self.of_kind(kind) if d["metadata"]["name"] == name), None)


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines as ragd's env-file reader (dotenvy) takes them, for the simple values."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def mounted_file(overlay: Overlay, pod: dict, container: dict, path: str) -> tuple[str, str] | None:
    """(kind, content) of the file at PATH in the container: a key of a mounted Secret or
    ConfigMap. None when no volume provides it."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        base = mount["mountPath"].rstrip("/")
        if mount.get("subPath"):
            key = mount["subPath"] if path == base else None
        else:
            key = path[len(base) + 1:] if path.startswith(base + "/") else None
        if not key or "/" in key:
            continue
        volume = volumes.get(mount["name"], {})
        for kind, field, ref in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
            if field not in volume:
                continue
            source = overlay.named(kind, volume[field][ref])
            if source is None:
                overlay.fail(f"volume {mount['name']} names {kind} {volume[field][ref]}, which the overlay does not render")
                return None
            if key in source.get("data", {}):
                content = source["data"][key]
                return kind, base64.b64decode(content).decode() if kind == "Secret" else content
            if key in source.get("stringData", {}):
                return kind, source["stringData"][key]
    return None


def env_of(overlay: Overlay, pod: dict, container: dict) -> tuple[dict[str, str], set[str]]:
    """The container's environment as ragd sees it, and the names that come from Secrets."""
    env: dict[str, str] = {}
    secret_names: set[str] = set()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]["name"]
            cm = overlay.named("ConfigMap", ref)
            if cm is None:
                overlay.fail(f"envFrom names ConfigMap {ref}, which the overlay does not render")
                continue
            env.update(cm.get("data", {}))
        elif "secretRef" in source:
            ref = source["secretRef"]["name"]
            secret = overlay.named("Secret", ref)
            if secret is None:
                overlay.fail(f"envFrom names Secret {ref}, which the overlay does not render")
                continue
            for key, value in secret.get("data", {}).items():
                env[key] = base64.b64decode(value).decode()
                secret_names.add(key)
            for key, value in secret.get("stringData", {}).items():
                env[key] = value
                secret_names.add(key)
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "")
    # RAGD_ENV_FILE: read at start, without overriding the environment (main.rs); ragd refuses
    # to start when an explicitly named file cannot be read.
    env_file = env.get("RAGD_ENV_FILE", "")
    if env_file:
        found = mounted_file(overlay, pod, container, env_file)
        if found is None:
            overlay.fail(f"RAGD_ENV_FILE {env_file} is not a key of a mounted Secret: ragd would not start")
        else:
            kind, content = found
            for key, value in parse_env_file(content).items():
                if key in env:
                    overlay.fail(f"{key} is set in the environment and in RAGD_ENV_FILE, whose value ragd ignores")
                    continue
                env[key] = value
                if kind == "Secret":
                    secret_names.add(key)
    return env, secret_names


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity in MiB."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity))
    if not match or match.group(2) not in units and match.group(2):
        raise ValueError(f"unknown memory quantity {quantity!r}")
    return float(match.group(1)) * units.get(match.group(2), 1) / 2**20


def check_workload(overlay: Overlay, workload: dict, known: set[str]) -> dict[str, str]:
    pod = workload["spec"]["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == "ragd"]
    if len(containers) != 1:
        overlay.fail("the workload has no container named ragd")
        return {}
    ragd = containers[0]
    env, secret_names = env_of(overlay, pod, ragd)

    # `command` would replace the image's ENTRYPOINT, and with it tini as PID 1 (which reaps the
    # parser processes and forwards SIGTERM); `args` replaces only its CMD.
    if "command" in ragd:
        overlay.fail(f"the container sets command {ragd['command']}, which replaces the image's tini entrypoint")
    if ragd.get("args") != IMAGE_ARGS:
        overlay.fail(f"the container's args are {ragd.get('args')!r}, not {IMAGE_ARGS!r} (run as tini -- ragd serve)")

    for name in sorted(set(env) - known):
        overlay.fail(f"{name} is not a setting ragd reads (misspelt?)")
    for name in ("JWT_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY",
                 "RAGD_ADMIN_PASSWORD", "CHROMA_AUTH_TOKEN"):
        if name in env and name not in secret_names:
            overlay.fail(f"{name} is a secret but comes from a ConfigMap or the pod spec")

    # Shutdown: the kubelet's SIGKILL must come after ragd's own deadline.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre_stop = ragd.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    if "RAGD_SHUTDOWN_DRAIN_SECS" not in env or "RAGD_SHUTDOWN_TIMEOUT_SECS" not in env:
        overlay.fail("RAGD_SHUTDOWN_DRAIN_SECS and RAGD_SHUTDOWN_TIMEOUT_SECS must be set explicitly")
    else:
        drain = int(env["RAGD_SHUTDOWN_DRAIN_SECS"])
        timeout = int(env["RAGD_SHUTDOWN_TIMEOUT_SECS"])
        needed = pre_stop + drain + CLOSE_GRACE_SECS + timeout
        if grace <= needed:
            overlay.fail(
                f"terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop} + drain "
                f"{drain} + {CLOSE_GRACE_SECS} + timeout {timeout} = {needed}"
            )

    # Memory: ragd's footprint plus every parser process at its cap fits the limit (the cgroup
    # kills the whole container at the limit), and the request holds ragd itself.
    resources = ragd.get("resources", {})
    try:
        limit = mebibytes(resources.get("limits", {}).get("memory", "0"))
        request = mebibytes(resources.get("requests", {}).get("memory", "0"))
        workers = int(env["RAGD_PARSER_WORKERS"])
        parser_mb = int(env.get("RAGD_PARSER_MEMORY_MB", "1024"))
    except (KeyError, ValueError) as err:
        overlay.fail(f"memory sizing: {err} (RAGD_PARSER_WORKERS must be set explicitly)")
    else:
        needed = RAGD_MEMORY_MIB + workers * parser_mb
        if limit < needed:
            overlay.fail(
                f"memory limit {limit:.0f} MiB < ragd {RAGD_MEMORY_MIB} + {workers} parsers x "
                f"{parser_mb} MiB = {needed} MiB"
            )
        if request < RAGD_MEMORY_MIB:
            overlay.fail(f"memory request {request:.0f} MiB < ragd's working set {RAGD_MEMORY_MIB} MiB")

    # Ports and addresses agree with the settings.
    ports = {p.get("name"): p["containerPort"] for p in ragd.get("ports", [])}
    if env.get("RAGD_HOST") != "0.0.0.0":
        overlay.fail("RAGD_HOST must be 0.0.0.0, or the probes and the Service cannot reach ragd")
    if str(ports.get("http")) != env.get("RAGD_PORT"):
        overlay.fail(f"container port http {ports.get('http')} != RAGD_PORT {env.get('RAGD_PORT')}")
    metrics_addr = env.get("RAGD_METRICS_ADDR", "")
    if metrics_addr:
        if str(ports.get("metrics")) != metrics_addr.rsplit(":", 1)[-1]:
            overlay.fail(f"container port metrics {ports.get('metrics')} != RAGD_METRICS_ADDR {metrics_addr}")
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/port") != str(ports.get("metrics")):
            overlay.fail("the prometheus.io/port annotation is not the metrics port")
    mounts = {m["mountPath"]: m["name"] for m in ragd.get("volumeMounts", [])}
    if env.get("RAGD_DATA_DIR") not in mounts:
        overlay.fail(f"RAGD_DATA_DIR {env.get('RAGD_DATA_DIR')} is not a mounted volume")
    if "/tmp" not in mounts:
        overlay.fail("/tmp is not a mounted volume (the root filesystem is read-only)")

    # Probes on the endpoints ragd has for them.
    for probe, path in (("startupProbe", "/health/live"), ("livenessProbe", "/health/live"),
                        ("readinessProbe", "/health/ready")):
        got = ragd.get(probe, {}).get("httpGet", {}).get("path")
        if got != path:
            overlay.fail(f"{probe} checks {got}, not {path}")

    # The security context the policy asks for (checkov checks most; these are ours exactly).
    pod_sc, sc = pod.get("securityContext", {}), ragd.get("securityContext", {})
    for key, want in (("runAsNonRoot", True), ("runAsUser", 10001), ("runAsGroup", 10001),
                      ("fsGroup", 10001)):
        if pod_sc.get(key) != want:
            overlay.fail(f"pod securityContext.{key} is {pod_sc.get(key)!r}, not {want!r}")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        overlay.fail("pod seccompProfile is not RuntimeDefault")
    for key, want in (("readOnlyRootFilesystem", True), ("allowPrivilegeEscalation", False)):
        if sc.get(key) != want:
            overlay.fail(f"container securityContext.{key} is {sc.get(key)!r}, not {want!r}")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        overlay.fail("the container does not drop ALL capabilities")
    if pod.get("automountServiceAccountToken") is not False:
        overlay.fail("the pod mounts a service account token")
    if pod.get("enableServiceLinks") is not False:
        overlay.fail("enableServiceLinks must be false (the Service ragd would set RAGD_PORT=tcp://…)")
    return env


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def check_single_node(overlay: Overlay, known: set[str]) -> None:
    sets = overlay.of_kind("StatefulSet")
    if overlay.of_kind("Deployment") or len(sets) != 1:
        overlay.fail("single-node must render one StatefulSet and no Deployment")
        return
    sts = sets[0]
    env = check_workload(overlay, sts, known)
    if sts["spec"].get("replicas") != 1:
        overlay.fail("the StatefulSet must have replicas: 1 (one writer per data dir)")
    claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
    if "data" not in claims:
        overlay.fail("the data volume is not a volumeClaimTemplate")
    if overlay.of_kind("HorizontalPodAutoscaler"):
        overlay.fail("single-node must not be autoscaled (one writer per data dir)")
    for name in ("DATABASE_URL", "REDIS_URL"):
        if env.get(name, "").strip():
            overlay.fail(f"{name} is set: that is the scale-out mode")


def check_scale_out(overlay: Overlay, known: set[str]) -> None:
    deployments = overlay.of_kind("Deployment")
    if overlay.of_kind("StatefulSet") or len(deployments) != 1:
        overlay.fail("scale-out must render one Deployment and no StatefulSet")
        return
    deployment = deployments[0]
    env = check_workload(overlay, deployment, known)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not env.get(name, "").strip():
            overlay.fail(f"{name} is not set: instances would not share their state")
    rolling = deployment["spec"].get("strategy", {}).get("rollingUpdate", {})
    if rolling.get("maxUnavailable") != 0 or rolling.get("maxSurge") != 1:
        overlay.fail("the rollout must be maxUnavailable 0, maxSurge 1")
    if "replicas" in deployment["spec"]:
        overlay.fail("the Deployment sets replicas, which the HPA owns")
    name = deployment["metadata"]["name"]
    hpas = [h for h in overlay.of_kind("HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
    if len(hpas) != 1:
        overlay.fail("no HorizontalPodAutoscaler scales the Deployment")
    else:
        metrics = [m["resource"]["name"] for m in hpas[0]["spec"]["metrics"] if m["type"] == "Resource"]
        if "cpu" not in metrics or hpas[0]["spec"].get("minReplicas", 1) < 2:
            overlay.fail("the HPA must scale on CPU with at least 2 replicas")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    if not any(selects(p["spec"]["selector"], labels) for p in overlay.of_kind("PodDisruptionBudget")):
        overlay.fail("no PodDisruptionBudget selects the Deployment's pods")


def check_env_files(k8s: pathlib.Path, known: set[str]) -> list[str]:
    """Names in the committed env files, commented-out examples included."""
    problems = []
    for path in sorted(k8s.glob("**/*.env")) + sorted(k8s.glob("**/*.env.example")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = ENV_LINE.match(line)
            if match and match.group(1) not in known:
                problems.append(f"{path}:{number}: {match.group(1)} is not a setting ragd reads")
    return problems


def main(argv: list[str]) -> int:
    source = pathlib.Path(argv[1])
    known = known_env_names(source)
    if "RAGD_SHUTDOWN_DRAIN_SECS" not in known:
        print(f"no ragd settings found under {source}", file=sys.stderr)
        return 2
    problems = check_env_files(pathlib.Path(__file__).resolve().parent.parent, known)
    for arg in argv[2:]:
        name, path = arg.split("=", 1)
        overlay = Overlay(name, path)
        if name == "single-node":
            check_single_node(overlay, known)
        elif name == "scale-out":
            check_scale_out(overlay, known)
        else:
            overlay.fail("unknown overlay (its mode has no checks)")
        problems += overlay.problems
    for problem in problems:
        print(f"ERROR {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
