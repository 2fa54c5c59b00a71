"""A test-only pause inside a video frame, so that fault tests (kill -9, SIGTERM) hit a frame mid-way for sure.

Honoured only when the environment variable ``SAM2REFINER_TEST_PAUSE_DIR`` names a folder; it is not a setting,
and unset (always, outside tests) ``ENABLED`` is False and the frame path makes no call here. Set, a test arms
frame ``N`` of session ``S`` by creating the file ``<dir>/S.N.armed``. The worker that tracks that frame, on its
device worker with the session's lease held and its state loaded, before it runs the tracker, writes
``<dir>/S.N.paused`` (its PID) and waits until the armed file is removed (or ten minutes passed), then goes on.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

_DIR = os.environ.get("SAM2REFINER_TEST_PAUSE_DIR") or None
ENABLED = _DIR is not None
_GIVE_UP_S = 600.0


def frame(session: str, frame_idx: int) -> None:
    """Pauses here if a test armed this frame of this session."""
    armed = Path(_DIR, f"{session}.{frame_idx}.armed")
    if not armed.exists():
        return
    paused = armed.with_suffix(".paused")
    paused.with_suffix(".tmp").write_text(str(os.getpid()))
    paused.with_suffix(".tmp").replace(paused)  # appears whole
    log.warning("test pause point: session %s frame %d paused until %s is removed", session, frame_idx, armed)
    give_up = time.monotonic() + _GIVE_UP_S
    while armed.exists() and time.monotonic() < give_up:
        time.sleep(0.01)
