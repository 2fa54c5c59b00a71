"""The file decoder and its per-process cache, without a model: limits stop a decode early, a video many requests
ask for at once is decoded once, the cache stays within its bytes."""

from __future__ import annotations

import threading

import pytest

from sam2refiner.service.core.errors import VideoLimitError
from sam2refiner.service.video_files.decode import DecodeCache, DecodedVideo, VideoInfo, VideoLimits, decode_video
from tests.model.video.helpers import clip

from .media import encode


def test_limits_are_checked_while_decoding():
    frames, _ = clip(num_frames=6, hw=(64, 96))
    data = encode(frames)
    assert decode_video(data, VideoLimits(6, 10, 96)).info.frames == 6
    for limits, words in [
        (VideoLimits(5, 10, 96), "more than the limit of 5 frames"),
        (VideoLimits(6, 0.1, 96), "longer than the limit of 0.1 s"),
        (VideoLimits(6, 10, 95), "the limit is 95 pixels"),
    ]:
        with pytest.raises(VideoLimitError, match=words):
            decode_video(data, limits)


def _video(nbytes: int) -> DecodedVideo:
    return DecodedVideo(VideoInfo(1, 1, 1, 1.0, 1.0, [0.0]), [b"x" * nbytes])


def test_a_video_asked_for_at_once_is_decoded_once():
    cache, calls, start = DecodeCache(1000), [], threading.Barrier(4)

    def decode():
        calls.append(1)
        return _video(10)

    def ask():
        start.wait()
        return cache.get_or_decode("v", decode)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and cache.get("v") is not None


def test_the_cache_keeps_within_its_bytes_least_recently_used_out():
    cache = DecodeCache(25)
    for key in "abc":
        cache.put(key, _video(10))
        cache.get("a")  # a stays in use
    assert cache.get("a") is not None and cache.get("c") is not None and cache.get("b") is None
    cache.drop("a")
    assert cache.get("a") is None
