"""The real thing: ``python -m sam2refiner.service`` with two uvicorn workers on a port, the sync/async clients and the
CLI over HTTP, and /metrics aggregated across both workers (prometheus-client multiprocess mode)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from sam2refiner_client import AsyncSAM2RefinerClient, SAM2RefinerClient, ServiceError
from sam2refiner_client.cli import main as cli_main
from tests.tiers import tier

from .processes import running_service


@pytest.fixture(scope="module")
@tier("service")
def server(tmp_path_factory):
    with running_service(
        tmp_path_factory.mktemp("uvicorn"),
        workers=2,
        sam2_config="hiera_t",
        image_size="256",
        device="cpu",
        log_level="warning",
        random_refiner="true",
    ) as served:
        yield served


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 60, (90, 130, 3), dtype=np.uint8)
    img[20:70, 30:100] = 230
    path = tmp_path_factory.mktemp("img") / "photo.jpg"
    Image.fromarray(img).save(path, quality=95)
    return path


def test_startup_log_says_random_weights_loudly(server):
    _, log_path = server
    text = log_path.read_text()
    assert "RANDOM WEIGHTS" in text and "hiera_t" in text and "cpu" in text


def test_sync_client_keeps_the_image_id_and_decodes_masks(server, photo):
    url, _ = server
    with SAM2RefinerClient(url) as client:
        client.set_image(photo)
        first = client.segment(box=[30, 20, 100, 70])
        assert first.objects[0].masks.shape == (1, 90, 130) and first.objects[0].masks.dtype == bool
        assert client.image_id == first.image_id
        # The next click goes by image_id (a worker that never saw the image makes the client resend it).
        second = client.segment(points=[[60, 40]], labels=[1], multimask=True, format="png")
        assert second.image_id == first.image_id and second.objects[0].masks.shape == (3, 90, 130)
        # Corrective clicks with a mask prompt: the logits id of the last answer, or the mask itself as RLE.
        # (Logits live in the worker that made them: with two workers the id may be unknown to the other one.)
        try:
            by_id = client.segment(
                points=[[60, 40], [5, 5]], labels=[1, 0], mask_logits_id=second.objects[0].logits_ids[0]
            )
            assert by_id.objects[0].masks.shape == (1, 90, 130)
        except ServiceError as e:
            assert e.status == 404 and e.field == "objects.0.mask_logits_id"
        by_rle = client.segment(points=[[60, 40]], labels=[1], mask_rle=first.objects[0].best, format="polygons")
        assert by_rle.objects[0].masks.shape == (1, 90, 130)
        polys = client.segment(objects=[{"box": [30, 20, 100, 70]}, {"points": [[5, 5]]}], format="polygons")
        assert len(polys.objects) == 2 and polys.objects[1].masks.shape == (1, 90, 130)
        assert client.model_info()["weights"]["random_weights"] is True
        # Streamed: SAM 2's masks first, then the refined ones, equal to the plain answer.
        parts = list(client.segment_stream(box=[30, 20, 100, 70]))
        assert [(p.stage, p.final) for p in parts] == [("sam2", False), ("refined", True)]
        assert np.array_equal(parts[-1].objects[0].masks, first.objects[0].masks)
        with pytest.raises(ServiceError) as e:
            client.segment(box=[100, 20, 30, 70])
        assert e.value.status == 422 and e.value.field == "objects.0.box"


def test_async_client(server, photo):
    url, _ = server

    async def run():
        async with AsyncSAM2RefinerClient(url) as client:
            client.set_image(np.asarray(Image.open(photo)))
            results = await asyncio.gather(*(client.segment(box=[30, 20, 100, 70]) for _ in range(3)))
            return results

    results = asyncio.run(run())
    assert all(r.objects[0].masks.shape == (1, 90, 130) for r in results)


def test_cli_writes_the_mask(server, photo, tmp_path):
    url, _ = server
    out = tmp_path / "mask.png"
    assert cli_main(["segment", str(photo), "--box", "30", "20", "100", "70", "--out", str(out), "--url", url]) == 0
    mask = np.asarray(Image.open(out))
    assert mask.shape == (90, 130) and set(np.unique(mask)) <= {0, 255}


def test_metrics_are_aggregated_across_two_workers(server, photo):
    url, _ = server
    with SAM2RefinerClient(url) as client:
        client.set_image(photo)
        for _ in range(4):
            client.segment(box=[30, 20, 100, 70])
    text = httpx.get(f"{url}/metrics").text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    ok = sum(
        s.value
        for s in samples
        if s.name == "sam2refiner_requests_total"
        and s.labels.get("route") == "/segment"
        and s.labels.get("status") == "200"
    )
    assert ok >= 4
    assert any(
        s.name == "sam2refiner_stage_duration_seconds_count" and s.labels.get("stage") == "decoder" for s in samples
    )
    assert any(s.name == "sam2refiner_cache_misses_total" and s.labels.get("cache") == "features" for s in samples)
    info = [s for s in samples if s.name == "sam2refiner_model_info"]
    assert info and all(s.labels["random_weights"] == "true" for s in info)
    # Served from the multiprocess folder (a fresh registry: no per-process python_gc_* collectors).
    assert not any(s.name.startswith("python_gc_") for s in samples)
    ready = [s for s in samples if s.name == "sam2refiner_model_ready"]
    assert ready and ready[0].value == 1
