"""``POST /segment``: its request and response models (pydantic v2)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

from sam2refiner.model import DECODER_INPUTS, DECODER_OUTPUTS

from ..core.masks import MaskFormat
from ..core.openapi import LIMIT_KEY

# JSON Schema's "integer" includes 2.0; pydantic's StrictInt does not, so integers here are lax (2.0 -> 2).
PositiveInt = Annotated[int, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in a field name is an error, not a silent default


class RLE(_Strict):
    """COCO RLE: compressed counts (string, as pycocotools writes) or uncompressed (list of ints)."""

    size: tuple[PositiveInt, PositiveInt] = Field(description="[height, width]")
    counts: str | list[Annotated[int, Field(ge=0)]] = Field(
        description="compressed (string) or uncompressed (run lengths, summing to height x width)"
    )


def _given(*names: str, types: tuple[str, ...]) -> dict:
    """JSON Schema: each of ``names`` is there and of its type, not null (a null field counts as left out)."""
    return {"required": list(names), "properties": dict(zip(names, ({"type": t} for t in types)))}


def _absent(*names: str) -> dict:
    return {"properties": {name: {"type": "null"} for name in names}}  # left out, or null


class ObjectPrompt(_Strict):
    """One object's prompts, in original-image pixels; any mix of points, a box and a mask prompt.

    Types only: the rules across fields (labels with points, x1 >= x0, inside the image, ...) are the model's
    one prompt layer (``model.prompts``), applied in ``image/prompts.py``. The schema also states those of them
    JSON Schema can (which fields go together), so that a client's validator knows them."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {  # at least one prompt
                    "anyOf": [
                        _given("points", types=("array",)),
                        _given("box", types=("array",)),
                        _given("mask", types=("object",)),
                        _given("mask_logits_id", types=("string",)),
                    ]
                },
                {"anyOf": [_given("points", "labels", types=("array", "array")), _absent("points", "labels")]},
                {"anyOf": [_absent("mask"), _absent("mask_logits_id")]},  # a mask or its logits, not both
            ]
        }
    )

    points: list[tuple[FiniteFloat, FiniteFloat]] | None = Field(
        None, min_length=1, description="[[x, y], ...]", json_schema_extra={LIMIT_KEY: "max_points"}
    )
    labels: list[Literal[0, 1]] | None = Field(None, description="1 = foreground, 0 = background, one per point")
    box: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat] | None = Field(None, description="[x0, y0, x1, y1]")
    mask: RLE | None = Field(None, description="a mask prompt as COCO RLE of the image's size")
    mask_logits_id: str | None = Field(None, description="logits_id the server returned for this object")


class SegmentRequest(_Strict):
    # Exactly one of image and image_id is a string (the other left out or null), in the schema as in _one_image.
    model_config = ConfigDict(
        json_schema_extra={"oneOf": [_given(name, types=("string",)) for name in ("image", "image_id")]}
    )

    image: str | None = Field(None, description="base64 PNG/JPEG/WebP (a data: URL is accepted)")
    image_id: str | None = Field(None, description="image_id from an earlier response, instead of image")
    objects: list[ObjectPrompt] = Field(
        min_length=1, description="one entry per object to segment", json_schema_extra={LIMIT_KEY: "max_objects"}
    )
    multimask: bool = Field(False, description="three candidate masks per object instead of one")
    refine: bool | None = Field(
        None,
        description="run the SAM2Refiner modules; false gives SAM 2's masks; unset: on "
        "when the server has a refiner (GET /v1/model: refine_default)",
    )
    stream: bool = Field(False, description="answer NDJSON: SAM 2's masks first, then the refined ones")
    format: MaskFormat = Field("rle", description="mask encoding: rle (COCO), png (base64) or polygons")

    @model_validator(mode="after")
    def _one_image(self):
        if (self.image is None) == (self.image_id is None):
            raise ValueError("image: give exactly one of image (base64) or image_id")
        return self


class MaskOut(BaseModel):
    mask: dict | str | list = Field(description="in the requested format")
    score: float = Field(description="predicted IoU")
    logits_id: str | None = Field(description="pass as mask_logits_id in the next click on this object")


class ObjectOut(BaseModel):
    masks: list[MaskOut]


class Timings(BaseModel):
    """Milliseconds per stage of this request."""

    queue_wait: float
    decode: float
    encode: float
    cache_hit: bool
    decoder: float
    refine: float
    encode_output: float
    total: float
    batch_size: int = Field(1, description="requests that shared this decoder pass (clicks on one image batch)")


class SegmentResponse(BaseModel):
    image_id: str
    width: int
    height: int
    format: MaskFormat
    objects: list[ObjectOut]
    timings_ms: Timings


class DecoderInfo(BaseModel):
    """GET /segment/decoder: SAM 2's prompt encoder + mask decoder for the page to run (onnxruntime-web)."""

    model: str = Field(description="the ONNX model's path, relative to the service root (cached for good)")
    image_size: int = Field(description="encoder input side: prompts are given in these pixels")
    inputs: list[str] = Field(default=list(DECODER_INPUTS), description="the model's inputs, in order")
    outputs: list[str] = Field(default=list(DECODER_OUTPUTS), description="the model's outputs, in order")
