"""Streaming video tracking: SAM 2's memory bank, one frame at a time, with the refiner in the loop."""

from .state import FrameMemory, ObjectTrack, TrackerState
from .tracker import FrameFeatures, FrameResult, StreamingTracker, TrackedObject, TrackPrompt

__all__ = [
    "FrameMemory",
    "ObjectTrack",
    "TrackerState",
    "FrameFeatures",
    "FrameResult",
    "TrackPrompt",
    "TrackedObject",
    "StreamingTracker",
]
