"""What a file session stores, and its codec for the video state store (``service/video/store.py``: the same
lease, epoch and version guarantees as the WebSocket sessions, under the key prefix ``{prefix}:files``).

Per session, one Redis hash: ``meta`` (the video's description and sam2's prompts and frame lists, see
``model/video/offline_codec.py``), ``mem:source`` (the uploaded file, written once), ``mem:{obj}:{t}`` (sam2's
output of one object on one frame, written when it changes: one field per object per propagated frame).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from sam2refiner.model.video.offline import FileTrack, OfflineTracker
from sam2refiner.model.video.offline_codec import (
    decode_track,
    dirty_fields,
    encode_output,
    encode_track,
    mark_saved,
    output_nbytes,
    read_header,
)

from ..video.store import StateCodec
from .decode import VideoInfo

SOURCE_FIELD = "mem:source"


@dataclass
class FileSession:
    info: VideoInfo
    source: bytes  # the file as uploaded
    track: FileTrack

    def nbytes(self) -> int:
        """What the session stores: the file, and sam2's outputs (memory features and low-res masks)."""
        return len(self.source) + output_nbytes(self.track)

    def copy(self) -> FileSession:
        """A copy to change (the stored one stays as it was until a save succeeds)."""
        return FileSession(self.info, self.source, self.track.copy())


class FileSessionCodec(StateCodec):
    def __init__(self, fingerprint: str, tracker: OfflineTracker):
        super().__init__(fingerprint)
        self.tracker = tracker

    def encode(self, session: FileSession):
        meta, outputs = encode_track(session.track, self.fingerprint, video=json.dumps(asdict(session.info)))
        return meta, {SOURCE_FIELD: session.source, **outputs}

    def encode_field(self, value) -> bytes:
        return value if isinstance(value, bytes) else encode_output(value, self.fingerprint)

    def rewrite(self, session: FileSession) -> set[str]:
        return dirty_fields(session.track)

    def decode(self, meta: bytes, fields: dict[str, bytes]) -> FileSession:
        info = VideoInfo(**json.loads(read_header(meta, self.fingerprint)["video"]))
        blank = self.tracker.blank(info.frames, info.height, info.width)
        track = decode_track(meta, fields, self.fingerprint, blank, self.tracker.predictor.device)
        return FileSession(info, fields[SOURCE_FIELD], track)

    def saved(self, session: FileSession) -> None:
        mark_saved(session.track)
