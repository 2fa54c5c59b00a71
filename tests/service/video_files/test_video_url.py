"""``POST /videos`` with a URL (form field ``url``) instead of the file: fetched from a local web server standing
in for a media host, only from ``SAM2REFINER_VIDEO_FILE_URL_HOSTS``, under the upload's size limit, and every
failure a clear client error naming the host."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from sam2refiner.service.core.errors import InvalidFieldError
from sam2refiner.service.core.settings import Settings
from sam2refiner.service.video_files.sessions import url_fetcher
from tests.service import processes
from tests.web_stand_in import QuietHandler, serving


class VideoHost(QuietHandler):
    """Files from a folder, plus ``/endless`` (a body without Content-Length that never ends) and redirects."""

    def do_GET(self):
        if self.path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\0" * 65536)
            except OSError:  # the reader hung up
                return
        if self.path.startswith("/moved/"):  # "/moved/<where>": a redirect to <where> on this host, or absolute
            where = self.path.removeprefix("/moved/")
            self.send_response(302)
            self.send_header("Location", where if where.startswith("http") else "/" + where)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture(scope="module")
def video_host(tmp_path_factory, small_clip):
    root = tmp_path_factory.mktemp("media")
    (root / "clip.mp4").write_bytes(small_clip[2])
    (root / "big.bin").write_bytes(b"\0" * 2_100_000)  # over the app's video_file_max_bytes (2,000,000)
    with serving(functools.partial(VideoHost, directory=str(root))) as url:
        yield url


def _from_url(api, url: str):
    return api.post("/videos", data={"url": url})


def _refused(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["field"] == "url", error
    return error


def test_a_url_upload_is_the_same_session_as_uploading_the_bytes(files_api, small_clip, video_host):
    by_file = files_api.post("/videos", files={"file": ("clip.mp4", small_clip[2], "video/mp4")})
    for url in (f"{video_host}/clip.mp4", f"{video_host}/moved/clip.mp4"):  # directly, and through a redirect
        by_url = _from_url(files_api, url)
        assert by_url.status_code == 201, by_url.text
        a, b = by_file.json(), by_url.json()
        ids = a.pop("video_id"), b.pop("video_id")
        assert ids[0] != ids[1] and a == b and a["frames"] == 8
        for k in range(a["frames"]):
            frames = [files_api.get(f"/videos/{video_id}/frames/{k}").content for video_id in ids]
            assert frames[0] == frames[1]


def test_the_file_or_its_url_one_of_the_two(files_api, small_clip, video_host):
    both = files_api.post(
        "/videos", data={"url": f"{video_host}/clip.mp4"}, files={"file": ("clip.mp4", small_clip[2], "video/mp4")}
    )
    assert both.status_code == 422 and "one of the two" in both.json()["error"]["message"]
    neither = files_api.post("/videos", data={})
    assert neither.status_code == 422 and neither.json()["error"]["field"] == "file"


def test_hosts_not_listed_are_refused_before_anything_is_sent(files_api, video_host):
    port = video_host.rsplit(":", 1)[1]
    error = _refused(_from_url(files_api, f"http://localhost:{port}/clip.mp4"), 422, "invalid_field")
    assert "'localhost'" in error["message"] and "SAM2REFINER_VIDEO_FILE_URL_HOSTS: 127.0.0.1" in error["message"]
    # a redirect from an allowed host to another one: each hop is checked
    error = _refused(_from_url(files_api, f"{video_host}/moved/http://localhost:{port}/clip.mp4"), 422, "invalid_field")
    assert "'localhost'" in error["message"]
    error = _refused(_from_url(files_api, "file:///etc/passwd"), 422, "invalid_field")
    assert "only http(s)" in error["message"]


def test_over_the_size_limit_is_413_without_reading_the_rest(files_api, video_host):
    error = _refused(_from_url(files_api, f"{video_host}/big.bin"), 413, "too_large")  # Content-Length says so
    assert "over the limit of 2000000 bytes" in error["message"]
    # A body that never ends: only a reader that stops at the limit answers (else the fetch deadline, a 422).
    started = time.monotonic()
    _refused(_from_url(files_api, f"{video_host}/endless"), 413, "too_large")
    assert time.monotonic() - started < 4


def test_an_unreachable_host_or_a_404_is_a_clear_error_naming_the_host(files_api, video_host):
    closed = f"http://127.0.0.1:{processes.free_port()}/clip.mp4"  # nothing listens there
    started = time.monotonic()
    error = _refused(_from_url(files_api, closed), 422, "invalid_field")
    assert time.monotonic() - started < 2  # refused at once, not the 5 s deadline
    assert error["message"].startswith(f"could not fetch {closed!r}")
    error = _refused(_from_url(files_api, f"{video_host}/missing.mp4"), 422, "invalid_field")
    assert "127.0.0.1" in error["message"] and "the server answered 404" in error["message"]


def test_url_uploads_are_off_unless_hosts_are_listed():
    settings = Settings()
    assert settings.video_file_url_hosts is None
    assert Settings(video_file_url_hosts="a.example, b.example").video_file_url_hosts == ["a.example", "b.example"]
    with pytest.raises(InvalidFieldError, match="SAM2REFINER_VIDEO_FILE_URL_HOSTS lists no host") as e:
        asyncio.run(url_fetcher(settings).fetch("http://127.0.0.1/clip.mp4", "url", 100))
    assert e.value.field == "url" and "video files are not fetched from URLs here" in e.value.message
