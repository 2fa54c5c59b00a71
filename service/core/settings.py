"""Every setting of the service (``Settings``, pydantic-settings) and ``get_settings()``, the process's one copy.

Each setting comes from the constructor's keyword (tests, ``create_app(Settings(...))``), else from its
``SAM2REFINER_*`` environment variable (names in any case), else its default here. No ``.env`` file is read (docker
compose reads its own and passes the variables) and no secrets folder. An empty value unsets the settings that may
be unset (``_empty_is_unset``, ``_host_list``); for the others it is a value like any (refused where not one).

Not settings, read from the environment elsewhere: ``XDG_CACHE_HOME`` (the decoder cache's default folder),
``PROMETHEUS_MULTIPROC_DIR`` (/metrics across workers), ``SAM2REFINER_TEST_PAUSE_DIR`` (fault tests only), and
the libraries' own (``HF_*`` for the Hub).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sam2refiner.model.config import SAM2_CONFIGS, check_image_size

MiB = 1 << 20


class Settings(BaseSettings):
    """The service's settings; a bad value raises ``ValidationError`` naming the field."""

    model_config = SettingsConfigDict(env_prefix="SAM2REFINER_", env_file=None, protected_namespaces=())

    # --- model
    sam2_config: str = Field(
        "auto",
        description="SAM 2.1 config: auto (the checkpoint's; else hiera_l on CUDA, "
        "hiera_t on CPU), hiera_t, hiera_s, hiera_b+ or hiera_l",
    )
    image_size: int = Field(1024, description="encoder input side in pixels (multiple of 32)")
    device: str = Field("auto", description="auto (cuda if present), cpu, cuda, cuda:N")
    sam2_checkpoint: Path | None = Field(
        None, description="SAM 2.1 .pt; unset = the official file from the Hub, else RANDOM"
    )
    fetch_weights: bool = Field(
        True, description="without a SAM 2 checkpoint, fetch the official one (Hugging Face Hub, cached)"
    )
    fetch_timeout_s: float = Field(
        3.0, gt=0, description="seconds the Hub may take to answer before RANDOM weights are used"
    )
    refiner_checkpoint: Path | None = Field(
        None, description="trained refiner .safetensors; unset = no refiner (SAM 2 alone)"
    )
    random_refiner: bool = Field(
        False, description="without a refiner checkpoint, run the refiner on RANDOM weights (tests, demos)"
    )
    seed: int = Field(0, description="seed of the random weights used when a checkpoint is missing")
    warmup: bool = Field(True, description="run one dummy request before /readyz says ready")

    # --- the page's in-browser decoding (GET /segment/decoder.onnx, /segment/features/{image_id})
    browser_decoder: bool = Field(
        True, description="serve SAM 2's decoder as ONNX and images' float16 features, so the page decodes clicks"
    )
    decoder_cache_dir: Path | None = Field(
        None,
        description="where the exported decoder is kept, by its weights' hash "
        "(unset: $XDG_CACHE_HOME/sam2refiner/onnx, ~/.cache/sam2refiner/onnx without it)",
    )

    # --- caches and queue
    feature_cache_bytes: int = Field(2048 * MiB, description="image feature LRU bound (bytes, on the device)")
    logits_cache_bytes: int = Field(256 * MiB, description="low-res logits LRU bound (bytes)")
    queue_size: int = Field(
        32, description="jobs waiting for the device per lane (clicks, video frames); more get 503 + Retry-After"
    )
    retry_after_s: int = Field(1, description="Retry-After seconds sent with a 503 for a full queue")
    stream_thread: bool = Field(
        True,
        description="video frames run on a device thread of their own, beside the one for clicks and images: a "
        "click never waits for a running frame (on a GPU each thread has its own CUDA stream, clicks' first)",
    )

    # --- limits
    max_body_bytes: int = Field(32 * MiB, description="largest request body")
    max_image_pixels: int = Field(40_000_000, description="largest decoded image (width x height)")
    max_objects: int = Field(32, description="objects per /segment request (and video socket prompt)")
    max_points: int = Field(64, description="points per object")
    ws_max_message_bytes: int = Field(
        64 * MiB, description="largest WebSocket message uvicorn takes in; larger ones close the socket (1009)"
    )

    # --- video sessions (WebSocket /video/{session})
    video_ttl_s: float = Field(600.0, gt=0, description="idle seconds before a video session and its state expire")
    video_lease_s: float = Field(30.0, gt=0, description="longest one frame may hold a session's lease")
    video_max_cond_frames: int = Field(
        16, ge=2, description="conditioning (prompted) frames kept per object: first + latest"
    )
    video_max_frame_bytes: int = Field(
        8 * MiB, gt=0, description="largest encoded frame (JPEG/PNG) in one binary message"
    )
    video_max_objects: int = Field(32, gt=0, description="objects tracked at once in one video session")
    video_encoder_batch: int = Field(
        0, ge=0, description="frames of different sessions per encoder call; 0: the model's choice (GPU all, CPU 1)"
    )
    video_key_prefix: str = Field("sam2refiner", description="Redis key prefix of video sessions")
    redis_timeout_s: float = Field(2.0, gt=0, description="seconds before an unanswered Redis call counts as failed")

    # --- video files (/videos: upload once, prompt any frame, propagate both ways; service/video_files)
    video_file_max_bytes: int = Field(256 * MiB, gt=0, description="largest uploaded video file (413 above)")
    video_file_max_frames: int = Field(3000, gt=0, description="most frames a video file may have (422 above)")
    video_file_max_duration_s: float = Field(600.0, gt=0, description="longest video file in seconds (422 above)")
    video_file_max_side: int = Field(4096, gt=0, description="widest or tallest frame in pixels (422 above)")
    video_file_session_bytes: int = Field(
        1024 * MiB, gt=0, description="stored bytes per file session (the file + masks + memory); 413 when reached"
    )
    video_file_decode_cache_bytes: int = Field(
        1024 * MiB, gt=0, description="decoded frames (as JPEG) of recent video files this process keeps"
    )
    video_file_jpeg_quality: int = Field(
        95, ge=50, le=100, description="JPEG quality of decoded frames (what the model and GET .../frames/k see)"
    )
    video_file_url_hosts: Annotated[list[str], NoDecode] | None = Field(
        None,
        description="hosts POST /videos may fetch a file's URL from (form field url), comma-separated; unset = "
        "none (URL uploads off)",
    )
    video_file_url_timeout_s: float = Field(
        60.0, gt=0, description="seconds fetching one video file's URL may take (connecting, reading, all of it)"
    )

    # --- Label Studio ML backend (/labelstudio; service/integrations/labelstudio)
    labelstudio_url: str | None = Field(
        None, description="Label Studio's URL, for task data under /data/upload and /data/local-files"
    )
    labelstudio_token: SecretStr | None = Field(None, description="Label Studio API token sent with those fetches")
    labelstudio_allowed_hosts: Annotated[list[str], NoDecode] | None = Field(
        None,
        description="hosts task data may be fetched from, comma-separated; unset = Label Studio's host and loopback",
    )
    labelstudio_fetch_timeout_s: float = Field(10.0, gt=0, description="seconds one task-data fetch may take")
    labelstudio_max_video_bytes: int = Field(512 * MiB, gt=0, description="largest video file a task may point to")
    labelstudio_max_video_frames: int = Field(
        300, gt=0, description="frames tracked per video request, from the first keyframe on"
    )

    # --- shutdown (SIGTERM)
    drain_timeout_s: float = Field(20.0, ge=0, description="longest wait for video messages in flight after SIGTERM")
    drain_delay_s: float = Field(0.0, ge=0, description="seconds /readyz answers 503 before the server stops listening")

    # --- access and deployment
    api_key: SecretStr | None = Field(None, description="bearer key for every route but health and metrics")
    public_docs: bool = Field(False, description="serve /docs, /redoc and /openapi.json without the API key")
    redis_url: str | None = Field(None, description="Redis for video session state; unset = in-process (one worker)")
    host: str = Field("0.0.0.0", description="bind address of python -m sam2refiner.service")
    port: int = Field(8000, description="port of python -m sam2refiner.service")
    workers: int = Field(1, description="uvicorn worker processes (each loads its own model)")
    log_level: str = Field("info", description="uvicorn / service log level")

    @field_validator(
        "api_key",
        "sam2_checkpoint",
        "refiner_checkpoint",
        "decoder_cache_dir",
        "redis_url",
        "labelstudio_url",
        "labelstudio_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, v):
        # docker-compose passes unset variables as "" (e.g. SAM2REFINER_API_KEY: ${SAM2REFINER_API_KEY:-}).
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("labelstudio_allowed_hosts", "video_file_url_hosts", mode="before")
    @classmethod
    def _host_list(cls, v):
        if isinstance(v, str):  # "ls.example.org, 10.0.0.5"
            v = [h.strip() for h in v.split(",") if h.strip()] or None
        return v

    @field_validator("sam2_config")
    @classmethod
    def _known_config(cls, v: str) -> str:
        if v != "auto" and v not in SAM2_CONFIGS:
            raise ValueError(f"unknown config {v!r}; choose auto or one of {sorted(SAM2_CONFIGS)}")
        return v

    @field_validator("image_size")
    @classmethod
    def _valid_size(cls, v: int) -> int:
        check_image_size(v)
        return v

    @field_validator(
        "feature_cache_bytes",
        "logits_cache_bytes",
        "queue_size",
        "max_body_bytes",
        "max_image_pixels",
        "max_objects",
        "max_points",
        "workers",
    )
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be positive")
        return v

    @model_validator(mode="after")
    def _ws_limit_above_message_limits(self):
        # A WebSocket message between the app's limits and uvicorn's is answered with too_large; one over
        # uvicorn's closes the socket, so uvicorn's must be the larger.
        if self.ws_max_message_bytes <= max(self.max_body_bytes, self.video_max_frame_bytes):
            raise ValueError("ws_max_message_bytes must be larger than max_body_bytes and video_max_frame_bytes")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
