"""The README's first command as a new user runs it: ``python -m sam2refiner.service`` with no model settings picks its config
(hiera_t on this CPU), fetches the official SAM 2.1 file from the Hub (here a local stand-in at ``HF_ENDPOINT``),
and says in its log and in GET /v1/model which config, why, which weights and that no refiner is loaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.hub_stand_in import HubStandIn
from tests.tiers import tier

from .processes import free_port, launch, service_env, stop, wait_ready

TINY = ("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt")


@pytest.fixture(scope="module")
@tier("service")
def first_run(sam2_checkpoint, tmp_path_factory):
    data = Path(sam2_checkpoint).read_bytes()
    home = tmp_path_factory.mktemp("hf-home")
    port = free_port()
    log_path = home / "server.log"
    with HubStandIn({TINY: data}) as hub:
        env = service_env(host="127.0.0.1", port=str(port), image_size="256")  # only what a test needs
        env.update(HF_HUB_OFFLINE="0", HF_ENDPOINT=hub.url, HF_HOME=str(home))
        proc = launch(["-m", "sam2refiner.service"], env, log_path)
        try:
            wait_ready(proc, f"http://127.0.0.1:{port}", log_path, timeout_s=180)
            yield f"http://127.0.0.1:{port}", log_path, hashlib.sha256(data).hexdigest(), hub, home
        finally:
            stop(proc)


def test_first_run_fetches_the_official_weights_for_the_auto_config(first_run):
    url, log_path, sha, hub, home = first_run
    info = httpx.get(f"{url}/v1/model").json()
    assert info["config"] == "hiera_t" and info["device"] == "cpu" and "CPU" in info["config_reason"]
    assert info["weights"]["sam2_sha256"] == sha and info["weights"]["random_weights"] is False
    assert "official facebook/sam2.1-hiera-tiny" in info["weights"]["sam2_source"]
    assert info["weights"]["sam2_checkpoint"].startswith(str(home))  # in the Hub cache under HF_HOME
    assert hub.gets() == 1
    assert info["refiner"] == "none" and info["refine_default"] is False and info["weights"]["warning"] is None
    log = log_path.read_text()
    assert "config hiera_t: auto: hiera_t" in log and "official facebook/sam2.1-hiera-tiny" in log
    assert "refiner: none" in log and "RANDOM WEIGHTS" not in log


def test_first_run_refuses_refine_true_without_a_refiner(first_run):
    url = first_run[0]
    body = {"image": _tiny_png_b64(), "objects": [{"box": [2, 2, 20, 20]}], "refine": True}
    r = httpx.post(f"{url}/segment", json=body, timeout=60)
    assert r.status_code == 409 and r.json()["error"]["code"] == "refiner_not_loaded"
    body.pop("refine")
    assert httpx.post(f"{url}/segment", json=body, timeout=60).status_code == 200


def _tiny_png_b64() -> str:
    import base64
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((32, 40, 3), 128, np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()
