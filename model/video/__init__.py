"""Streaming video tracking: SAM 2's memory bank, one frame at a time, with the refiner in the loop."""

from .state import FrameMemory, ObjectTrack, TrackerState
from .tracker import FrameFeatures, FrameResult, ObjectPrompt, ObjectResult, StreamingTracker

__all__ = [
    "FrameMemory",
    "ObjectTrack",
    "TrackerState",
    "FrameFeatures",
    "FrameResult",
    "ObjectPrompt",
    "ObjectResult",
    "StreamingTracker",
]
