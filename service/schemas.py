"""Request and response models of the HTTP API (pydantic v2)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

MaskFormat = Literal["rle", "png", "polygons"]
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


class ObjectPrompt(_Strict):
    """One object's prompts, in original-image pixels; any mix of points, a box and a mask prompt.

    Types only: the rules across fields (labels with points, x1 >= x0, inside the image, ...) are the model's
    one prompt layer (``model.prompts``), applied in ``service.prompts``."""

    points: list[tuple[FiniteFloat, FiniteFloat]] | None = Field(None, description="[[x, y], ...]")
    labels: list[Literal[0, 1]] | None = Field(None, description="1 = foreground, 0 = background, one per point")
    box: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat] | None = Field(None, description="[x0, y0, x1, y1]")
    mask: RLE | None = Field(None, description="a mask prompt as COCO RLE of the image's size")
    mask_logits_id: str | None = Field(None, description="logits_id the server returned for this object")


class SegmentRequest(_Strict):
    image: str | None = Field(None, description="base64 PNG/JPEG/WebP (a data: URL is accepted)")
    image_id: str | None = Field(None, description="image_id from an earlier response, instead of image")
    objects: list[ObjectPrompt] = Field(min_length=1, description="one entry per object to segment")
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


# ------------------------------------------------------------------ errors (every error answer, HTTP and WebSocket)
class FieldIssue(BaseModel):
    field: str
    message: str
    type: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable reason, listed in the README")
    message: str = Field(description="what went wrong, for a person")
    field: str | None = Field(None, description="the request field at fault (dotted path), if any")
    details: list[FieldIssue] | None = Field(None, description="every validation issue, when there were several")


class ErrorBody(BaseModel):
    """The body of every error answer of the HTTP API."""

    error: ErrorDetail

    @classmethod
    def of(cls, code: str, field: str | None, message: str, details=None) -> dict:
        return cls(error=ErrorDetail(code=code, field=field, message=message, details=details)).dump()

    @classmethod
    def from_error(cls, exc) -> dict:
        """The body of a ``service.errors.ServiceError``."""
        return cls.of(exc.code, exc.field, exc.message)

    def dump(self) -> dict:
        """As JSON: ``field`` is always there (null when none), ``details`` only when there are some."""
        body = self.model_dump()
        if body["error"]["details"] is None:
            del body["error"]["details"]
        return body


class WsErrorMessage(BaseModel):
    """A WebSocket ``error`` message: ``error`` is the HTTP error object; ``code``, ``field`` and ``message`` repeat
    it at the top level, where the protocol had them first (kept for clients written against that)."""

    type: Literal["error"] = "error"
    error: ErrorDetail
    code: str
    field: str | None
    message: str

    @classmethod
    def from_error(cls, exc) -> dict:
        detail = ErrorDetail(code=exc.code, field=exc.field, message=exc.message)
        message = cls(error=detail, code=exc.code, field=exc.field, message=exc.message).model_dump()
        del message["error"]["details"]
        return message


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


class WeightsOut(BaseModel):
    sam2_checkpoint: str | None
    sam2_sha256: str | None
    sam2_source: str = Field(
        description="where SAM 2's weights come from (a file, the official Hub file) or why they are RANDOM"
    )
    refiner_checkpoint: str | None
    refiner_sha256: str | None
    random_weights: bool = Field(description="true when SAM 2 or the refiner runs on random weights")
    warning: str | None


class ModelOut(BaseModel):
    config: str
    config_reason: str = Field(
        description="why this config: asked for, read from the checkpoint, or auto for the device"
    )
    refiner: Literal["none", "random", "trained"] = Field(
        description="trained: a refiner checkpoint is loaded (weights.refiner_sha256); random: RANDOM refiner "
        "weights (SAM2REFINER_RANDOM_REFINER); none: SAM 2 alone, refine requests answer 409"
    )
    refine_default: bool = Field(description="what a request without 'refine' gets")
    image_size: int
    device: str
    dtype: str
    dtypes: dict[str, str] = Field(description="compute dtype of each path: image (/segment) and video (WebSocket)")
    modules: dict[str, bool]
    weights: WeightsOut
    feature_cache_bytes: int
    logits_cache_bytes: int
    ready: bool
