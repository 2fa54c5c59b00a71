"""What the code says a deployment must agree with: setting names, exported metrics, routes, the affinity header."""

from __future__ import annotations

import re
from functools import lru_cache

ENV_PREFIX = "SAM2REFINER_"
# Variables the deployment may set that are not service settings (read by libraries, the shell or Python).
NON_SETTINGS_ENV = {"HOME", "HF_HOME", "PROMETHEUS_MULTIPROC_DIR", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"}
# Labels Prometheus attaches when scraping (ServiceMonitor / static or DNS targets), on every series.
TARGET_LABELS = {"instance", "job", "namespace", "pod", "service", "endpoint", "container", "le"}
METRIC = re.compile(r"\bsam2refiner_[a-z0-9_]+\b")


@lru_cache
def settings_env_names() -> dict[str, str]:
    """SAM2REFINER_X -> the Settings field x."""
    from sam2refiner.service.core.settings import Settings

    return {f"{ENV_PREFIX}{name.upper()}": name for name in Settings.model_fields}


def settings_from_env(env: dict[str, str]):
    """The Settings these variables make (validated as the service validates them at start)."""
    from sam2refiner.service.core.settings import Settings

    fields = settings_env_names()
    return Settings(**{fields[k]: v for k, v in env.items() if k in fields})


@lru_cache
def exported_metrics() -> dict[str, set[str]]:
    """Every sample name service.core.metrics exports -> its label names (counters as _total, histograms' parts)."""
    from prometheus_client.metrics import MetricWrapperBase

    import sam2refiner.service.core.metrics as m

    out: dict[str, set[str]] = {}
    for metric in vars(m).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)  # prometheus-client keeps them only there
        (family,) = metric.describe()
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}[family.type]
        for suffix in suffixes:
            out[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return out


def metrics_in(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def labels_in(expr: str) -> set[str]:
    """Label names an expression groups by or matches on (by/without clauses and {label op value} selectors)."""
    used = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        used |= {g.strip() for g in group.split(",") if g.strip()}
    for selector in re.findall(r"\{([^}]*)\}", expr):
        used |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", selector))
    return used


def answer_without_model(paths: list[str]) -> dict[str, int]:
    """The status each path answers on an app whose model is not loaded (its lifespan is not run): 404 means
    the app has no such route; a probe path must answer 200 (alive) or 503 (not ready yet)."""
    from starlette.testclient import TestClient

    from sam2refiner.service.app import create_app
    from sam2refiner.service.core.settings import Settings

    client = TestClient(create_app(Settings(sam2_config="hiera_t", image_size=256, device="cpu")))
    return {path: client.get(path).status_code for path in paths}


def client_affinity_header() -> str:
    """The header sam2refiner_client sends so that a front can keep one client's requests on one replica."""
    from sam2refiner_client import SAM2RefinerClient

    with SAM2RefinerClient("http://127.0.0.1:9") as client:
        names = [k for k in client.http.headers if "affinity" in k.lower()]
    assert len(names) == 1, f"sam2refiner_client sends no (or several) affinity headers: {names}"
    return names[0]


def nginx_variable(header: str) -> str:
    return "$http_" + header.lower().replace("-", "_")
