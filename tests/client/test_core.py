"""The shared core behind the sync and async clients, on httpx's MockTransport (a fake service in the test):
both clients make the same calls and give the same answers; the image is resent once when the server dropped
it; error answers become the exception of their kind with the server's code, field and message."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

import sam2refiner.service.app  # noqa: F401  (imports every module that defines a ServiceError)
from sam2refiner.service.core.errors import ERROR_CODES
from sam2refiner_client import (
    AsyncSAM2RefinerClient,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RetryableError,
    SAM2RefinerClient,
    ServiceError,
    UnknownIdError,
    encode_rle,
)
from sam2refiner_client.errors import KIND_OF_CODE, error_from_body

MASK = np.zeros((4, 6), bool)
MASK[1:3, 2:5] = True


def _answer(image_id: str = "img_1", **extra) -> dict:
    masks = [{"mask": encode_rle(MASK), "score": 0.75, "logits_id": "lg_1"}]
    return {"image_id": image_id, "height": 4, "width": 6, "format": "rle", "timings_ms": {"total": 1.0}} | {
        "objects": [{"masks": masks}],
        **extra,
    }


def _error(status: int, code: str, field: str | None, message: str = "no") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "field": field, "message": message}})


class FakeService:
    """Answers /segment like the service: an image_id it does not know (``forget``) is a 404 on image_id."""

    def __init__(self, forget: bool = False, errors: list | None = None):
        self.forget, self.errors = forget, list(errors or [])
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/model":
            return httpx.Response(200, json={"weights": {"random_weights": True}})
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.errors:
            return self.errors.pop(0)
        if "image_id" in body and self.forget:
            return _error(404, "unknown_id", "image_id")
        if body.get("stream"):
            lines = [_answer(stage="sam2", final=False), _answer(stage="refined", final=True)]
            return httpx.Response(200, text="\n".join(json.dumps(x) for x in lines) + "\n\n")
        return httpx.Response(200, json=_answer())


def _sync(service: FakeService, calls):
    with SAM2RefinerClient("http://fake", transport=httpx.MockTransport(service)) as client:
        client.set_image(b"raw image bytes")
        return [_read(call(client)) for call in calls]


def _read(result):
    return list(result) if hasattr(result, "__next__") else result


def _async(service: FakeService, calls):
    async def run():
        async with AsyncSAM2RefinerClient("http://fake", transport=httpx.MockTransport(service)) as client:
            client.set_image(b"raw image bytes")
            out = []
            for call in calls:
                result = call(client)
                if hasattr(result, "__aiter__"):
                    out.append([part async for part in result])
                else:
                    out.append(await result)
            return out

    return asyncio.run(run())


CALLS = [
    lambda c: c.segment(box=[1, 1, 4, 3]),
    lambda c: c.segment(points=np.array([[2, 2]]), mask_rle=MASK, multimask=True, refine=False, format="png"),
    lambda c: c.segment(objects=[{"box": [0, 0, 2, 2]}, {"points": [[1, 1]], "labels": [0]}]),
    lambda c: c.segment_stream(box=[1, 1, 4, 3]),
    lambda c: c.model_info(),
]


def _comparable(result):
    if isinstance(result, list):  # a stream's parts
        return [_comparable(part) for part in result]
    if isinstance(result, dict):
        return result
    objects = [(o.masks.tolist(), o.scores.tolist(), o.logits_ids) for o in result.objects]
    return (result.image_id, result.stage, result.final, objects)


@pytest.mark.parametrize("forget", [False, True], ids=["kept", "dropped"])
def test_sync_and_async_clients_make_the_same_calls_and_give_the_same_answers(forget):
    sync_service, async_service = FakeService(forget), FakeService(forget)
    sync_results = [_comparable(r) for r in _sync(sync_service, CALLS)]
    async_results = [_comparable(r) for r in _async(async_service, CALLS)]
    assert sync_results == async_results
    assert sync_service.bodies == async_service.bodies
    assert len(sync_service.bodies) == (1 + 3 * 2 if forget else 4)  # four segment calls (one streamed)
    first, second = sync_service.bodies[:2]
    assert first["image"] and "image_id" not in first and "refine" not in first  # unset: the server's default
    assert second["objects"] == [{"points": [[2, 2]], "labels": [1], "mask": encode_rle(MASK)}]
    assert (second["multimask"], second["refine"], second["format"]) == (True, False, "png")
    if forget:  # every call by image_id is answered 404 and sent again, once, with the image
        assert [("image" in b, "image_id" in b) for b in sync_service.bodies[1:3]] == [(False, True), (True, False)]
    else:
        assert all("image_id" in b and "image" not in b for b in sync_service.bodies[1:])


def test_stream_parts_come_in_order_and_an_error_line_raises():
    service = FakeService()
    (parts,) = _sync(service, [lambda c: c.segment_stream(box=[1, 1, 4, 3])])
    assert [(p.stage, p.final) for p in parts] == [("sam2", False), ("refined", True)]
    assert np.array_equal(parts[0].objects[0].best, MASK) and service.bodies[0]["stream"] is True

    lines = [_answer(stage="sam2", final=False), {"error": {"code": "internal", "message": "boom"}, "final": True}]
    failing = [httpx.Response(200, text="\n".join(json.dumps(line) for line in lines))]
    with pytest.raises(InternalServerError) as e:
        _sync(FakeService(errors=failing), [lambda c: c.segment_stream(box=[1, 1, 4, 3])])
    assert (e.value.code, e.value.message, e.value.status) == ("internal", "boom", None)


def test_an_unknown_logits_id_is_not_a_reason_to_resend():
    service = FakeService(errors=[_error(404, "unknown_id", "objects.0.mask_logits_id")])
    with pytest.raises(UnknownIdError) as e:
        _sync(service, [lambda c: c.segment(points=[[1, 1]], mask_logits_id="lg_old")])
    assert e.value.field == "objects.0.mask_logits_id" and len(service.bodies) == 1


def test_no_image_is_a_local_error():
    with SAM2RefinerClient("http://fake", transport=httpx.MockTransport(FakeService())) as client:
        with pytest.raises(ValueError, match="set_image"):
            client.segment(box=[0, 0, 1, 1])


@pytest.mark.parametrize(
    "response, kind, code, field",
    [
        (_error(422, "invalid_field", "objects.0.box", "x1 < x0"), BadRequestError, "invalid_field", "objects.0.box"),
        (_error(401, "unauthorized", None), AuthenticationError, "unauthorized", None),
        (_error(503, "queue_full", None), RetryableError, "queue_full", None),
        (_error(409, "a_code_of_a_newer_server", "x"), BadRequestError, "a_code_of_a_newer_server", "x"),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), RetryableError, None, None),
        (httpx.Response(500, text="oops"), InternalServerError, None, None),
    ],
)
def test_error_answers_become_exceptions_of_their_kind(response, kind, code, field):
    with pytest.raises(kind) as e:
        _sync(FakeService(errors=[response]), [lambda c: c.segment(box=[1, 1, 4, 3])])
    assert (e.value.code, e.value.field, e.value.status) == (code, field, response.status_code)
    assert isinstance(e.value, ServiceError) and e.value.message


def test_every_code_the_server_sends_has_a_kind():
    assert set(ERROR_CODES) <= set(KIND_OF_CODE), set(ERROR_CODES) - set(KIND_OF_CODE)
    for code, status in ERROR_CODES.items():  # "try again later" and "the server's fault" agree with the status
        if status == 503:
            assert KIND_OF_CODE[code] is RetryableError, code
        if status == 500:
            assert KIND_OF_CODE[code] is InternalServerError, code
    # The WebSocket's error message (the object under "error", with copies at the top) is read the same way.
    ws = {
        "type": "error",
        "error": {"code": "session_busy", "field": "session", "message": "m"},
        "code": "session_busy",
    }
    error = error_from_body(ws)
    assert isinstance(error, RetryableError) and (error.field, error.status) == ("session", None)
