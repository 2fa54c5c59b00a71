"""The clients against a real service (``python -m sam2refiner.service`` on a port, hiera_t at 256, random
weights): the sync and async clients give equal answers, and the masks of every format, over HTTP and from
``VideoSession.masks()``, equal the masks the server encoded (checked with the server's own codecs)."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from sam2refiner.service.core import masks as server
from sam2refiner_client import (
    FORMATS,
    AsyncSAM2RefinerClient,
    BadRequestError,
    SAM2RefinerClient,
    SeqConflictError,
    VideoSession,
)
from tests.model.video.helpers import click_on, clip
from tests.service.processes import running_service
from tests.tiers import tier


@pytest.fixture(scope="module")
@tier("service")
def service(tmp_path_factory, video_checkpoint) -> str:
    with running_service(
        tmp_path_factory.mktemp("client-live"),
        sam2_config="hiera_t",
        image_size="256",
        device="cpu",
        sam2_checkpoint=video_checkpoint,  # objects scored present, so that the video masks are not empty
        random_refiner="true",
        warmup="false",
        log_level="warning",
    ) as (url, _):
        yield url


@pytest.fixture(scope="module")
def video():
    """Three frames (240 x 320, objects with holes) as PNG bytes, and a click on an object in the first."""
    frames, masks = clip(num_frames=3)
    pngs = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    return frames, pngs, click_on(masks[0, 0])


REQUESTS = [
    dict(box=[60, 40, 200, 180]),
    dict(points=[[120, 100], [20, 20]], labels=[1, 0], multimask=True, format="png"),
    dict(objects=[{"box": [60, 40, 200, 180]}, {"points": [[250, 60]]}], refine=False, format="polygons"),
]


def _same(a, b) -> bool:
    return (a.image_id, a.height, a.width, a.stage, a.final, a.raw["format"]) == (
        b.image_id,
        b.height,
        b.width,
        b.stage,
        b.final,
        b.raw["format"],
    ) and all(
        np.array_equal(x.masks, y.masks) and np.array_equal(x.scores, y.scores) for x, y in zip(a.objects, b.objects)
    )


def test_sync_and_async_clients_give_equal_answers(service, video):
    image = video[0][0]
    with SAM2RefinerClient(service) as client:
        client.set_image(image)
        sync = [client.segment(**r) for r in REQUESTS] + list(client.segment_stream(box=[60, 40, 200, 180]))

    async def run():
        async with AsyncSAM2RefinerClient(service) as client:
            client.set_image(image)
            answers = list(await asyncio.gather(*(client.segment(**r) for r in REQUESTS)))
            return answers + [part async for part in client.segment_stream(box=[60, 40, 200, 180])]

    asynchronous = asyncio.run(run())
    assert len(sync) == len(asynchronous) == len(REQUESTS) + 2
    assert [(p.stage, p.final) for p in sync[-2:]] == [("sam2", False), ("refined", True)]
    assert sum(int(o.masks.any()) for r in sync for o in r.objects) >= 3  # not a comparison of empty masks
    for a, b in zip(sync, asynchronous):
        assert _same(a, b), (a.raw["format"], a.stage)


def test_http_masks_of_every_format_equal_the_servers(service, video):
    with SAM2RefinerClient(service) as client:
        client.set_image(video[0][0])
        answers = {fmt: client.segment(box=[60, 40, 200, 180], multimask=True, format=fmt) for fmt in FORMATS}
    truth = answers["rle"].objects[0].masks
    assert truth.shape == (3, 240, 320) and truth.any()
    _assert_formats_agree(
        truth,
        {fmt: [m["mask"] for m in a.raw["objects"][0]["masks"]] for fmt, a in answers.items()},
        {fmt: a.objects[0].masks for fmt, a in answers.items()},
    )


def test_video_session_masks_of_every_format_equal_the_servers(service, video):
    """VideoSession(format=...).masks() decoded RLE whatever the format (and raised for png and polygons)."""
    _, pngs, click = video
    got = {}  # format -> per frame: (the reply, the masks the client decoded from it)
    for fmt in FORMATS:
        with VideoSession(service.replace("http", "ws"), f"formats-{fmt}", refine=False, format=fmt) as session:
            assert session.started["format"] == fmt
            session.frame(pngs[0])
            replies = [session.prompt([{"obj_id": 1, "points": click, "labels": [1]}])]
            replies += [session.frame(png) for png in pngs[1:]]
            got[fmt] = [(reply, session.masks(reply)) for reply in replies]
            session.close()
    for t in range(len(pngs)):
        assert all(list(got[fmt][t][1]) == [1] for fmt in FORMATS)
        payloads = {fmt: [o["mask"] for o in got[fmt][t][0]["objects"]] for fmt in FORMATS}
        decoded = {fmt: np.stack(list(got[fmt][t][1].values())) for fmt in FORMATS}
        _assert_formats_agree(decoded["rle"], payloads, decoded)
    assert all(masks[1].any() for _, masks in got["rle"]), "empty masks would prove nothing"


def test_video_session_polygons_take_their_own_frames_size(service, video):
    """The size of a reply's frame, not of the last frame sent: a frame of another size is refused (the session's
    frames are 320x240) and the prompt that follows, on the current frame, decodes at that frame's size."""
    frames, pngs, click = video
    with VideoSession(service.replace("http", "ws"), "polygon-sizes", refine=False, format="polygons") as session:
        first = session.frame(pngs[0])
        buf = io.BytesIO()
        Image.fromarray(frames[1][:120, :160]).save(buf, format="PNG")
        with pytest.raises(BadRequestError):
            session.frame(buf.getvalue())
        reply = session.prompt([{"obj_id": 1, "points": click, "labels": [1]}])
        assert reply["frame_idx"] == first["frame_idx"]
        mask = session.masks(reply)[1]
        assert mask.shape == (240, 320) and mask.any()
        assert np.array_equal(mask, server.decode_polygons(reply["objects"][0]["mask"], 240, 320))
        session.close()


def _assert_formats_agree(truth: np.ndarray, payloads: dict, decoded: dict) -> None:
    """``truth``: the masks [M, H, W] decoded from RLE; ``payloads``/``decoded``: per format, the masks as the
    server sent them and as the client decoded them."""
    h, w = truth.shape[1:]
    for i, mask in enumerate(truth):
        assert np.array_equal(mask, server.decode_rle(payloads["rle"][i]))
        assert np.array_equal(decoded["png"][i], mask)  # lossless
        # Polygons: the server encoded this same mask, and the client fills them as the server's decoder does.
        assert payloads["polygons"][i] == server.encode_polygons(mask)
        assert np.array_equal(decoded["polygons"][i], server.decode_polygons(payloads["polygons"][i], h, w))
        assert not np.any(mask & ~decoded["polygons"][i])


def test_two_clients_on_one_session_never_take_each_others_replies(service, video):
    """N1: two VideoSession clients on one session (two tabs, a restarted client whose old one still runs) both
    number from last_seq. The second one's message under an applied seq is refused (seq_conflict), and the very
    same message is answered as a duplicate, which a first send cannot be: both raise SeqConflictError."""
    _, pngs, _ = video
    url = service.replace("http", "ws")
    with VideoSession(url, "two-clients", refine=False) as a, VideoSession(url, "two-clients", refine=False) as b:
        assert a.frame(pngs[0])["frame_idx"] == 0  # seq 1
        with pytest.raises(SeqConflictError) as refused:
            b.frame(pngs[1])  # seq 1 too, another picture: the server refuses it
        assert (refused.value.code, refused.value.field) == ("seq_conflict", "seq")
        assert a.frame(pngs[1])["frame_idx"] == 1  # seq 2
        with pytest.raises(SeqConflictError, match="another client"):
            b.frame(pngs[1])  # seq 2, the same bytes: a duplicate of A's message, not B's own reply
        assert a.frame(pngs[2])["frame_idx"] == 2
        a.close()
