"""/metrics parses with prometheus-client's parser and shows request, stage, cache and queue metrics."""

from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_metrics_after_a_few_requests(api, image_id):
    for _ in range(2):
        assert (
            api.post("/segment", json={"image_id": image_id, "objects": [{"box": [40, 30, 120, 90]}]}).status_code
            == 200
        )
    assert api.post("/segment", json={"image_id": image_id, "objects": []}).status_code == 422
    r = api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)

    ok = [
        s
        for s in samples["sam2refiner_requests_total"]
        if s.labels == {"route": "/segment", "method": "POST", "status": "200"}
    ]
    assert ok and ok[0].value >= 2
    assert any(s.labels["status"] == "422" for s in samples["sam2refiner_requests_total"])
    stages = {s.labels["stage"] for s in samples["sam2refiner_stage_duration_seconds_count"]}
    assert {"decode", "encode", "decoder", "refine", "encode_output"} <= stages
    assert any(s.labels["route"] == "/segment" for s in samples["sam2refiner_request_duration_seconds_bucket"])
    hits = {s.labels["cache"]: s.value for s in samples["sam2refiner_cache_hits_total"]}
    misses = {s.labels["cache"]: s.value for s in samples["sam2refiner_cache_misses_total"]}
    assert hits["features"] >= 2 and misses["features"] >= 1
    assert {s.labels["cache"] for s in samples["sam2refiner_cache_bytes"]} >= {"features", "logits"}
    assert samples["sam2refiner_queue_wait_seconds_count"][0].value >= 2
    assert samples["sam2refiner_queue_depth"][0].value == 0
    # Other apps of the test session (built by other test files) may have reported their models too.
    assert any(
        info.labels["config"] == "hiera_t" and info.labels["random_weights"] == "true" and info.value == 1
        for info in samples["sam2refiner_model_info"]
    )
    assert samples["sam2refiner_model_ready"][0].value == 1
    assert all(name.startswith(("sam2refiner_", "python_", "process_")) for name in samples)
