"""A Python client for the service (httpx; sync and async) and the ``sam2refiner-client`` CLI.

    client = SAM2RefinerClient("http://localhost:8000")
    client.set_image("photo.jpg")                      # sent once; later calls use the server's image_id
    result = client.segment(box=[10, 20, 200, 240])   # -> SegmentResult: masks as numpy bool [M, H, W]
    result = client.segment(points=[[50, 60]], labels=[1], mask_logits_id=result.objects[0].logits_ids[0])
    for part in client.segment_stream(box=[10, 20, 200, 240]):   # SAM 2's masks first (part.stage == "sam2"),
        show(part)                                                # then the refined ones (part.final)

If the server has evicted the image (404 unknown_id on image_id) the client sends the image again, once.

    sam2refiner-client segment image.jpg --box x0 y0 x1 y1 --out mask.png
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from .core.masks import decode_mask


class ServiceRequestError(RuntimeError):
    """A 4xx/5xx answer; ``field`` names the request field the server blamed."""

    def __init__(self, status: int, code: str | None, field: str | None, message: str):
        super().__init__(f"HTTP {status} {code or ''} {field or ''}: {message}".replace("  ", " "))
        self.status, self.code, self.field, self.message = status, code, field, message


@dataclass
class ObjectMasks:
    masks: np.ndarray  # bool [M, H, W]
    scores: np.ndarray  # [M]
    logits_ids: list[str]

    @property
    def best(self) -> np.ndarray:
        return self.masks[int(np.argmax(self.scores))]


@dataclass
class SegmentResult:
    image_id: str
    height: int
    width: int
    objects: list[ObjectMasks]
    timings_ms: dict
    raw: dict
    stage: str = "refined"  # "sam2" (SAM 2's masks) or "refined"; streamed answers say which part this is
    final: bool = True  # the last part of a streamed answer


def encode_image(image) -> str:
    """A path, raw bytes, a PIL image or an RGB uint8 numpy array -> base64 (files as they are, arrays as PNG)."""
    if isinstance(image, (str, Path)):
        return base64.b64encode(Path(image).read_bytes()).decode("ascii")
    if isinstance(image, (bytes, bytearray)):
        return base64.b64encode(bytes(image)).decode("ascii")
    from PIL import Image

    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def make_object(points=None, labels=None, box=None, mask_rle=None, mask_logits_id=None) -> dict:
    obj = {"points": points, "labels": labels, "box": box, "mask": mask_rle, "mask_logits_id": mask_logits_id}
    obj = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.items() if v is not None}
    if "points" in obj and "labels" not in obj:
        obj["labels"] = [1] * len(obj["points"])
    return obj


def decode_response(body: dict) -> SegmentResult:
    h, w, fmt = body["height"], body["width"], body["format"]
    objects = []
    for obj in body["objects"]:
        masks = np.stack([decode_mask(m["mask"], fmt, h, w) for m in obj["masks"]])
        objects.append(
            ObjectMasks(masks, np.array([m["score"] for m in obj["masks"]]), [m["logits_id"] for m in obj["masks"]])
        )
    return SegmentResult(
        body["image_id"], h, w, objects, body["timings_ms"], body, body.get("stage", "refined"), body.get("final", True)
    )


def decode_stream_line(line: str, status: int) -> SegmentResult | None:
    """One NDJSON line of a streamed answer (None for a blank line); an error line raises."""
    if not line.strip():
        return None
    body = json.loads(line)
    if "error" in body:
        err = body["error"]
        raise ServiceRequestError(status, err.get("code"), err.get("field"), err.get("message", ""))
    return decode_response(body)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        err = response.json()["error"]
        raise ServiceRequestError(response.status_code, err.get("code"), err.get("field"), err.get("message", ""))
    except (ValueError, KeyError, TypeError):
        raise ServiceRequestError(response.status_code, None, None, response.text[:500]) from None


class _Base:
    """What the sync and async clients share: the remembered image, request bodies, answers."""

    def __init__(self, api_key: str | None):
        # X-Affinity keeps this client's requests on one replica behind the front (docker/nginx.conf), where
        # its image features and logits are cached.
        self._headers = {"X-Affinity": secrets.token_hex(8)}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._image_b64: str | None = None
        self.image_id: str | None = None

    def set_image(self, image) -> None:
        """Remembers the image; it is uploaded with the next segment call, then referred to by image_id."""
        self._image_b64, self.image_id = encode_image(image), None

    def _body(self, objects, multimask, refine, fmt, resend: bool) -> dict:
        if self._image_b64 is None and self.image_id is None:
            raise ValueError("no image: call set_image(...) first")
        body = {"objects": objects, "multimask": multimask, "format": fmt}
        if refine is not None:  # unset: the server's default (on when it has a refiner)
            body["refine"] = refine
        if self.image_id is not None and not resend:
            body["image_id"] = self.image_id
        else:
            body["image"] = self._image_b64
        return body

    def _should_resend(self, response: httpx.Response, body: dict) -> bool:
        if response.status_code != 404 or "image_id" not in body or self._image_b64 is None:
            return False
        try:
            return response.json()["error"]["field"] == "image_id"
        except (ValueError, KeyError, TypeError):
            return False

    def _stream_body(self, objs, multimask, refine, fmt, resend: bool) -> dict:
        return {**self._body(objs, multimask, refine, fmt, resend), "stream": True}

    def _result(self, response: httpx.Response) -> SegmentResult:
        _raise_for(response)
        result = decode_response(response.json())
        self.image_id = result.image_id
        return result

    @staticmethod
    def _objects(objects, **single) -> list[dict]:
        return [make_object(**o) for o in objects] if objects is not None else [make_object(**single)]


class SAM2RefinerClient(_Base):
    def __init__(
        self,
        base_url: str = "http://localhost:8000",
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ):
        super().__init__(api_key)
        self.http = httpx.Client(base_url=base_url, headers=self._headers, timeout=timeout, transport=transport)

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
        refine: bool | None = None,
        format: str = "rle",
    ) -> SegmentResult:
        """Segments one object (keyword prompts) or several (``objects``: dicts with the same keywords)."""
        objs = self._objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        body = self._body(objs, multimask, refine, format, resend=False)
        response = self.http.post("/segment", json=body)
        if self._should_resend(response, body):
            response = self.http.post("/segment", json=self._body(objs, multimask, refine, format, resend=True))
        return self._result(response)

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
        refine: bool = True,
        format: str = "rle",
    ):
        """As ``segment``, streamed: yields SAM 2's masks first (``stage == "sam2"``), then the refined ones
        (``final``), each a ``SegmentResult`` as soon as its line arrives."""
        objs = self._objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        for resend in (False, True):
            body = self._stream_body(objs, multimask, refine, format, resend)
            with self.http.stream("POST", "/segment", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    if not resend and self._should_resend(response, body):
                        continue
                    _raise_for(response)
                for line in response.iter_lines():
                    part = decode_stream_line(line, response.status_code)
                    if part is not None:
                        self.image_id = part.image_id
                        yield part
            return

    def model_info(self) -> dict:
        response = self.http.get("/v1/model")
        _raise_for(response)
        return response.json()

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncSAM2RefinerClient(_Base):
    def __init__(
        self,
        base_url: str = "http://localhost:8000",
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        super().__init__(api_key)
        self.http = httpx.AsyncClient(base_url=base_url, headers=self._headers, timeout=timeout, transport=transport)

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
        refine: bool | None = None,
        format: str = "rle",
    ) -> SegmentResult:
        objs = self._objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        body = self._body(objs, multimask, refine, format, resend=False)
        response = await self.http.post("/segment", json=body)
        if self._should_resend(response, body):
            response = await self.http.post("/segment", json=self._body(objs, multimask, refine, format, resend=True))
        return self._result(response)

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
        refine: bool = True,
        format: str = "rle",
    ):
        """As ``SAM2RefinerClient.segment_stream``, an async iterator."""
        objs = self._objects(
            objects, points=points, labels=labels, box=box, mask_rle=mask_rle, mask_logits_id=mask_logits_id
        )
        for resend in (False, True):
            body = self._stream_body(objs, multimask, refine, format, resend)
            async with self.http.stream("POST", "/segment", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    if not resend and self._should_resend(response, body):
                        continue
                    _raise_for(response)
                async for line in response.aiter_lines():
                    part = decode_stream_line(line, response.status_code)
                    if part is not None:
                        self.image_id = part.image_id
                        yield part
            return

    async def model_info(self) -> dict:
        response = await self.http.get("/v1/model")
        _raise_for(response)
        return response.json()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()


# ---------------------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sam2refiner-client", description="Client of the SAM2Refiner service")
    sub = p.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="segment one object and write its mask as a PNG")
    seg.add_argument("image", type=Path)
    seg.add_argument("--box", nargs=4, type=float, metavar=("X0", "Y0", "X1", "Y1"))
    seg.add_argument(
        "--point",
        nargs=3,
        type=float,
        action="append",
        metavar=("X", "Y", "LABEL"),
        help="a click; LABEL 1 = foreground, 0 = background (repeatable)",
    )
    seg.add_argument("--out", type=Path, default=Path("mask.png"))
    seg.add_argument("--no-refine", action="store_true", help="SAM 2's mask, without the refiner")
    seg.add_argument("--url", default="http://localhost:8000")
    seg.add_argument("--api-key", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.box is None and not args.point:
        print("give --box and/or --point", file=sys.stderr)
        return 2
    points = [[x, y] for x, y, _ in args.point] if args.point else None
    labels = [int(lbl) for _, _, lbl in args.point] if args.point else None
    from PIL import Image

    with SAM2RefinerClient(args.url, api_key=args.api_key) as client:
        client.set_image(args.image)
        try:
            result = client.segment(
                points=points, labels=labels, box=args.box, refine=False if args.no_refine else None
            )
        except ServiceRequestError as e:
            print(e, file=sys.stderr)
            return 1
    obj = result.objects[0]
    Image.fromarray(obj.best.astype(np.uint8) * 255).save(args.out)
    print(
        f"{args.out}: {result.width}x{result.height}, score {obj.scores.max():.3f}, image_id {result.image_id}, "
        f"{result.timings_ms['total']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
