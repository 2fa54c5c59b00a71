"""The Kubernetes manifests (deploy/): every overlay renders with kubectl kustomize, every object validates against
Kubernetes 1.32's schema (strict: unknown fields fail), the CRD objects (ScaledObject, ServiceMonitor) are checked
for the fields their controllers read, and names agree with the code: probe paths, ports, setting names, metric
names and labels, the affinity header."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

import kubernetes_validate
import pytest

from .code_facts import (
    ENV_PREFIX,
    NON_SETTINGS_ENV,
    TARGET_LABELS,
    answer_without_model,
    client_affinity_header,
    exported_metrics,
    labels_in,
    metrics_in,
    nginx_variable,
    settings_env_names,
    settings_from_env,
)
from .conftest import OVERLAYS, ROOT, one

K8S_VERSION = "1.32.0"  # the kubectl client here is 1.32; its Deployment fields (preStop sleep) are in this schema
CRD_KINDS = {"ScaledObject", "ServiceMonitor"}
DASHBOARD = ROOT / "deploy/components/monitoring/sam2refiner-dashboard.json"


def server(docs):
    return one(docs, "Deployment", "sam2refiner")


def container(docs):
    (c,) = [c for c in server(docs)["spec"]["template"]["spec"]["containers"] if c["name"] == "sam2refiner"]
    return c


def settings_env(docs) -> dict[str, str]:
    """The variables the server container gets from its ConfigMaps (envFrom) and plain env values."""
    env = {}
    for source in container(docs).get("envFrom", []):
        env |= one(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    env |= {e["name"]: e["value"] for e in container(docs).get("env", []) if "value" in e}
    return env


def test_overlays_exist():
    assert {"cpu", "gpu"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schema(rendered, overlay):
    checked = 0
    for doc in rendered[overlay]:
        if doc["kind"] in CRD_KINDS:
            continue  # no schema of theirs in kubernetes-validate: test_autoscaler / test_service_monitor
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 6


def test_the_strict_schema_catches_a_misspelt_field(rendered):
    deployment = json.loads(json.dumps(server(rendered["cpu"])))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {
        "httpGet": {"path": "/readyz", "port": 8000}
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_lives_in_one_namespace(rendered, overlay):
    namespaces = {d["metadata"].get("namespace") for d in rendered[overlay] if d["kind"] != "Namespace"}
    assert namespaces == {one(rendered[overlay], "Namespace")["metadata"]["name"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_reach_routes_the_app_serves(rendered, overlay):
    c = container(rendered[overlay])
    probes = {kind: c[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    answers = answer_without_model(sorted({p["path"] for p in probes.values()}))
    # Before the model is loaded: alive answers 200, ready 503; a missing route would answer 404.
    assert answers["/healthz"] == 200 and answers["/readyz"] == 503, answers
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert all(p["port"] in port_names for p in probes.values())
    # Liveness must not kill a pod that is still loading its model: startup guards it for minutes.
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_agree_from_settings_to_ingress(rendered, overlay):
    docs = rendered[overlay]
    c = container(docs)
    (http,) = [p for p in c["ports"] if p["name"] == "http"]
    assert http["containerPort"] == settings_from_env(settings_env(docs)).port
    service = one(docs, "Service", "sam2refiner")
    (sport,) = service["spec"]["ports"]
    assert sport["targetPort"] == "http"
    pod_labels = server(docs)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "minAvailable" not in pdb["spec"], "minAvailable would block draining a one-replica deployment"
    (rule,) = one(docs, "Ingress")["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"] and backend["port"]["name"] == sport["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_names_are_settings_and_their_values_valid(rendered, overlay):
    docs = rendered[overlay]
    c = container(docs)
    names = set(settings_env(docs)) | {e["name"] for e in c.get("env", [])}
    known = settings_env_names()
    unknown = {n for n in names if n.startswith(ENV_PREFIX) and n not in known}
    assert not unknown, f"not service.core.settings.Settings fields: {unknown}"
    assert not {n for n in names if not n.startswith(ENV_PREFIX)} - NON_SETTINGS_ENV
    settings = settings_from_env(settings_env(docs))  # raises on a bad value, as the service would at start
    expected_device = {"cpu": "cpu", "gpu": "cuda"}.get(overlay)
    if expected_device:
        assert settings.device == expected_device
    # Kubernetes service links would set SAM2REFINER_PORT=tcp://... for the Service named sam2refiner.
    assert server(docs)["spec"]["template"]["spec"]["enableServiceLinks"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_key_and_redis_url_come_from_secrets(rendered, overlay):
    docs = rendered[overlay]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container(docs)["env"] if "valueFrom" in e}
    assert set(refs) == {"SAM2REFINER_API_KEY", "SAM2REFINER_REDIS_URL"}
    kustomization = (ROOT / "deploy/overlays" / overlay / "kustomization.yaml").read_text()
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    from_secrets = {}
    for env_name, ref in refs.items():
        if ref["name"] in secrets:
            from_secrets[env_name] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
        else:  # made by the operator: the overlay says how
            assert re.search(
                rf"create secret generic {re.escape(ref['name'])} --from-literal={ref['key']}=", kustomization
            )


def test_cpu_overlay_runs_its_own_redis_and_the_gpu_overlay_one_gpu_per_pod(rendered):
    cpu, gpu = rendered["cpu"], rendered["gpu"]
    redis = one(cpu, "Service", "sam2refiner-redis")
    url = next(d for d in cpu if d["kind"] == "Secret" and d["metadata"]["name"].startswith("sam2refiner-redis"))
    assert base64.b64decode(url["data"]["url"]).decode().startswith(f"redis://{redis['metadata']['name']}:6379/")
    assert "nvidia.com/gpu" not in json.dumps(server(cpu))
    limits, requests = container(gpu)["resources"]["limits"], container(gpu)["resources"]["requests"]
    assert int(limits["nvidia.com/gpu"]) == 1 and int(requests["nvidia.com/gpu"]) == 1
    assert not [d for d in gpu if d["kind"] == "Deployment" and "redis" in d["metadata"]["name"]]
    for docs in (cpu, gpu):
        assert {"requests", "limits"} <= set(container(docs)["resources"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_prestop_and_the_services_drain(rendered, overlay):
    docs = rendered[overlay]
    spec = server(docs)["spec"]["template"]["spec"]
    grace = spec["terminationGracePeriodSeconds"]
    pre_stop = container(docs)["lifecycle"]["preStop"]["sleep"]["seconds"]
    settings = settings_from_env(settings_env(docs))
    # Whatever the service allows itself to drain (any *drain*/*shutdown* timeout setting), plus the preStop
    # sleep and a margin, must fit in the grace period, or the kubelet kills frames in flight.
    drain = [
        v for k, v in settings.model_dump().items() if re.search(r"drain|shutdown", k) and isinstance(v, (int, float))
    ]
    assert grace >= pre_stop + max(drain, default=0) + 10, (grace, pre_stop, drain)


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\(([A-Z0-9_]+)\)", lambda m: env[m.group(1)], value)  # Kubernetes' $(VAR) in args


def _env_values(docs, c) -> dict[str, str]:
    env = {}
    for source in c.get("envFrom", []):
        env |= one(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    return env | {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def test_weights_init_container_runs_the_services_fetcher_into_the_shared_cache(rendered, tmp_path):
    from sam2refiner.model.weights.official import OFFICIAL_FILES

    dockerfile = (ROOT / "docker/Dockerfile").read_text()
    ran = False
    for overlay in OVERLAYS:
        docs = rendered[overlay]
        spec = server(docs)["spec"]["template"]["spec"]
        main = container(docs)
        for init in spec.get("initContainers", []):
            assert init["image"] == main["image"]
            # The image's own console script (pyproject's [project.scripts]), whose download command is in it.
            assert init["command"] == ["sam2refiner", "download"]
            assert re.search(r"^COPY\s+weights/__init__.py weights/download.py \./weights/$", dockerfile, re.M)
            init_env, main_env = _env_values(docs, init), _env_values(docs, main)
            args = [_expand(a, init_env) for a in init["args"]]
            assert args[0] in OFFICIAL_FILES and args[0] == settings_from_env(main_env).sam2_config
            # The service looks where the init container wrote: the same Hub cache on the same volume.
            assert init_env["HF_HOME"] == main_env["HF_HOME"]
            for c in (init, main):
                mount = next(m for m in c["volumeMounts"] if init_env["HF_HOME"].startswith(m["mountPath"]))
                assert mount["name"] == "weights" and not mount.get("readOnly", False)
            if not ran:  # the arguments as rendered are ones the script takes (a Hub that refuses: exit 1, not 2)
                env = {**os.environ, "HF_HOME": str(tmp_path), "HF_ENDPOINT": "http://127.0.0.1:9"}
                env.pop("HF_HUB_OFFLINE", None)
                result = subprocess.run(
                    [sys.executable, "-m", "sam2refiner.service.cli", *init["command"][1:], *args],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                    cwd=tmp_path,
                )
                # The script's own failure line for the config (a refused Hub), not argparse's usage error (exit 2).
                assert result.returncode == 1 and re.search(rf"^{re.escape(args[0])}: ", result.stderr, re.M), (
                    result.stderr[-2000:]
                )
                ran = True
    assert ran, "no overlay fetches the weights in an init container"


def test_ingress_hashes_on_the_header_the_client_sends(rendered):
    header = client_affinity_header()
    for overlay in OVERLAYS:
        annotations = one(rendered[overlay], "Ingress")["metadata"]["annotations"]
        assert nginx_variable(header) in annotations["nginx.ingress.kubernetes.io/upstream-hash-by"]
        settings = settings_from_env(settings_env(rendered[overlay]))
        assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{settings.max_body_bytes >> 20}m"
    nginx = (ROOT / "docker/nginx.conf").read_text()
    assert f"map {nginx_variable(header)} $affinity" in nginx


# ------------------------------------------------------------------ CRD objects: the fields their controllers read
SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "minReplicaCount",
    "maxReplicaCount",
    "pollingInterval",
    "cooldownPeriod",
    "fallback",
    "advanced",
    "triggers",
    "idleReplicaCount",
    "initialCooldownPeriod",
}
PROMETHEUS_TRIGGER = {
    "serverAddress",
    "query",
    "threshold",
    "activationThreshold",
    "namespace",
    "ignoreNullValues",
    "unsafeSsl",
    "customHeaders",
    "queryParameters",
}


@pytest.fixture(scope="module")
def scaled(rendered):
    found = [(o, d) for o in OVERLAYS for d in rendered[o] if d["kind"] == "ScaledObject"]
    assert found, "no overlay autoscales"
    return found


def test_autoscaler_scales_the_deployment_on_queue_depth(rendered, scaled):
    exported = exported_metrics()
    for overlay, so in scaled:
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        spec = so["spec"]
        assert set(spec) <= SCALED_OBJECT_SPEC, set(spec) - SCALED_OBJECT_SPEC
        assert spec["scaleTargetRef"]["name"] == server(rendered[overlay])["metadata"]["name"]
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        for trigger in spec["triggers"]:
            assert trigger["type"] == "prometheus"
            meta = trigger["metadata"]
            assert set(meta) <= PROMETHEUS_TRIGGER and {"serverAddress", "query", "threshold"} <= set(meta)
            assert isinstance(meta["threshold"], str) and float(meta["threshold"]) > 0  # KEDA reads strings
            names = metrics_in(meta["query"])
            assert "sam2refiner_queue_depth" in names and names <= set(exported), names - set(exported)
            namespace = so["metadata"]["namespace"]
            assert f'namespace="{namespace}"' in meta["query"], "the query must count this deployment's pods only"
            if "fallback" in spec:  # KEDA refuses a fallback unless every trigger is AverageValue
                assert trigger.get("metricType", "AverageValue") == "AverageValue"
        # The HPA behaviour KEDA passes on is Kubernetes' own type: validate it with its schema.
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "x"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "maxReplicas": spec["maxReplicaCount"],
                "behavior": behavior,
            },
        }
        kubernetes_validate.validate(hpa, K8S_VERSION, strict=True)


def test_service_monitor_selects_the_service_and_its_metrics_port(rendered):
    monitored = [o for o in OVERLAYS if any(d["kind"] == "ServiceMonitor" for d in rendered[o])]
    assert "gpu" in monitored
    answers = answer_without_model(["/metrics"])
    for overlay in monitored:
        sm = one(rendered[overlay], "ServiceMonitor")
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(sm["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels"}
        service = one(rendered[overlay], "Service", "sam2refiner")
        assert sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        ports = {p["name"] for p in service["spec"]["ports"]}
        for endpoint in sm["spec"]["endpoints"]:
            assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels"}
            assert endpoint["port"] in ports and answers[endpoint["path"]] == 200


# ------------------------------------------------------------------ the dashboard
def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_queries_only_metrics_and_labels_the_service_exports():
    exported = exported_metrics()
    for title, expr in dashboard_exprs():
        names = metrics_in(expr)
        assert names and names <= set(exported), (title, names - set(exported))
        allowed = set().union(*(exported[n] for n in names)) | TARGET_LABELS
        assert labels_in(expr) <= allowed, (title, labels_in(expr) - allowed)


def test_dashboard_covers_what_an_operator_watches():
    used = set().union(*(metrics_in(e) for _, e in dashboard_exprs()))
    for needed in (
        "sam2refiner_request_duration_seconds_bucket",
        "sam2refiner_stage_duration_seconds_bucket",
        "sam2refiner_queue_depth",
        "sam2refiner_queue_rejected_total",
        "sam2refiner_cache_hits_total",
        "sam2refiner_cache_misses_total",
        "sam2refiner_video_frames_total",
        "sam2refiner_video_active_sessions",
        "sam2refiner_video_state_store_errors_total",
    ):
        assert needed in used, needed
    exprs = " ".join(e for _, e in dashboard_exprs())
    for quantile in ("0.5", "0.95"):
        assert (
            f"histogram_quantile({quantile}, sum by (le, route) (rate(sam2refiner_request_duration_seconds_bucket"
            in exprs
        )
        assert (
            f"histogram_quantile({quantile}, sum by (le, route, stage) (rate(sam2refiner_stage_duration_seconds_bucket"
            in exprs
        )


def test_dashboard_is_shipped_to_grafana_in_the_cluster(rendered):
    cm = one(rendered["gpu"], "ConfigMap", "sam2refiner-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"][DASHBOARD.name]) == json.loads(DASHBOARD.read_text())
