"""The HTTP clients, sync and async: the same operations (``_core.ClientCore``) run over httpx.

    client = SAM2RefinerClient("http://localhost:8000")
    client.set_image("photo.jpg")                      # sent once; later calls use the server's image_id
    result = client.segment(box=[10, 20, 200, 240])   # -> SegmentResult: masks as numpy bool [M, H, W]
    result = client.segment(points=[[50, 60]], labels=[1], mask_logits_id=result.objects[0].logits_ids[0])
    for part in client.segment_stream(box=[10, 20, 200, 240]):   # SAM 2's masks first (part.stage == "sam2"),
        show(part)                                                # then the refined ones (part.final)

``AsyncSAM2RefinerClient`` has the same methods, awaited (``segment_stream`` is an async iterator).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx

from ._core import Call, ClientCore, Plan, Reply, T, prompt_objects
from .results import SegmentResult


class _Client:
    """What both clients do without I/O: the image they work on, its id, their headers."""

    def __init__(self, api_key: str | None):
        self._core = ClientCore(api_key)

    def set_image(self, image) -> None:
        """Remembers the image (a path, bytes, a PIL image or an RGB uint8 array); it is uploaded with the next
        segment call, then referred to by ``image_id``."""
        self._core.set_image(image)

    @property
    def image_id(self) -> str | None:
        """The server's id of the current image, once it has been uploaded."""
        return self._core.image_id


def _finish(plan: Plan, reply: Reply) -> tuple[Call | None, object]:
    """Sends ``reply`` into ``plan``: (the next call, None), or (None, the plan's result) when it is done."""
    try:
        return plan.send(reply), None
    except StopIteration as done:
        return None, done.value


class SAM2RefinerClient(_Client):
    def __init__(
        self,
        base_url: str = "http://localhost:8000",
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ):
        super().__init__(api_key)
        self.http = httpx.Client(base_url=base_url, headers=self._core.headers, timeout=timeout, transport=transport)

    def segment(
        self,
        points=None,
        labels=None,
        box=None,
        mask_rle=None,
        mask_logits_id=None,
        *,
        objects=None,
        multimask: bool = False,
        refine: bool | dict | None = None,
        format: str = "rle",
    ) -> SegmentResult:
        """Segments one object (keyword prompts) or several (``objects``: dicts with the same keywords).
        ``refine`` unset is the server's default; ``format`` is how the masks travel (rle, png, polygons)."""
        objs = prompt_objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        return self._run(self._core.segment(objs, multimask, refine, format, stream=False))

    def segment_stream(
        self,
        points=None,
        labels=None,
        box=None,
        mask_rle=None,
        mask_logits_id=None,
        *,
        objects=None,
        multimask: bool = False,
        refine: bool | dict | None = None,
        format: str = "rle",
    ) -> Iterator[SegmentResult]:
        """As ``segment``, streamed: yields SAM 2's masks first (``stage == "sam2"``), then the refined ones
        (``final``), each as soon as its line arrives."""
        objs = prompt_objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        plan = self._core.segment(objs, multimask, refine, format, stream=True)
        call = next(plan)
        while call is not None:
            with self.http.stream(call.method, call.path, json=call.json) as response:
                ok = response.status_code < 400
                call, _ = _finish(plan, Reply(response.status_code, None if ok else response.read()))
                if ok:
                    for line in response.iter_lines():
                        if (part := self._core.stream_part(line)) is not None:
                            yield part

    def model_info(self) -> dict:
        """``GET /v1/model``: the config, weights, device and refiner the server runs."""
        return self._run(self._core.model_info())

    def _run(self, plan: Plan[T]) -> T:
        call = next(plan)
        while True:
            response = self.http.request(call.method, call.path, json=call.json)
            call, result = _finish(plan, Reply(response.status_code, response.content))
            if call is None:
                return result

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SAM2RefinerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncSAM2RefinerClient(_Client):
    def __init__(
        self,
        base_url: str = "http://localhost:8000",
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        super().__init__(api_key)
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=self._core.headers, timeout=timeout, transport=transport
        )

    async def segment(
        self,
        points=None,
        labels=None,
        box=None,
        mask_rle=None,
        mask_logits_id=None,
        *,
        objects=None,
        multimask: bool = False,
        refine: bool | dict | None = None,
        format: str = "rle",
    ) -> SegmentResult:
        """As ``SAM2RefinerClient.segment``."""
        objs = prompt_objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        return await self._run(self._core.segment(objs, multimask, refine, format, stream=False))

    async def segment_stream(
        self,
        points=None,
        labels=None,
        box=None,
        mask_rle=None,
        mask_logits_id=None,
        *,
        objects=None,
        multimask: bool = False,
        refine: bool | dict | None = None,
        format: str = "rle",
    ) -> AsyncIterator[SegmentResult]:
        """As ``SAM2RefinerClient.segment_stream``, an async iterator."""
        objs = prompt_objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        plan = self._core.segment(objs, multimask, refine, format, stream=True)
        call = next(plan)
        while call is not None:
            async with self.http.stream(call.method, call.path, json=call.json) as response:
                ok = response.status_code < 400
                call, _ = _finish(plan, Reply(response.status_code, None if ok else await response.aread()))
                if ok:
                    async for line in response.aiter_lines():
                        if (part := self._core.stream_part(line)) is not None:
                            yield part

    async def model_info(self) -> dict:
        return await self._run(self._core.model_info())

    async def _run(self, plan: Plan[T]) -> T:
        call = next(plan)
        while True:
            response = await self.http.request(call.method, call.path, json=call.json)
            call, result = _finish(plan, Reply(response.status_code, response.content))
            if call is None:
                return result

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncSAM2RefinerClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
