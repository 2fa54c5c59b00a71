"""``WebSocket /video/{session}`` and ``GET``/``DELETE /video/{session}``: router (the protocol loop) -> protocol
(typed messages) -> sessions (lease, load, track, save) -> store (in-process or Redis); draining on SIGTERM."""
