"""The Python client of the SAM2Refiner service: ``SAM2RefinerClient`` / ``AsyncSAM2RefinerClient`` for
``POST /segment``, ``VideoSession`` for the video WebSocket, masks as numpy arrays in every format the service
answers in. It imports nothing of the server."""

from .errors import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RetryableError,
    SeqConflictError,
    ServiceError,
    SessionLostError,
    UnknownIdError,
)
from .http import AsyncSAM2RefinerClient, SAM2RefinerClient
from .masks import FORMATS, decode_mask, encode_rle
from .results import ObjectMasks, SegmentResult
from .video import VideoSession

__all__ = [
    "FORMATS",
    "AsyncSAM2RefinerClient",
    "AuthenticationError",
    "BadRequestError",
    "InternalServerError",
    "ObjectMasks",
    "RetryableError",
    "SAM2RefinerClient",
    "SegmentResult",
    "SeqConflictError",
    "ServiceError",
    "SessionLostError",
    "UnknownIdError",
    "VideoSession",
    "decode_mask",
    "encode_rle",
]
