"""The Label Studio backend's parts without a Label Studio: the labeling config, the fetch rules (against a local
web server standing in for image hosts), the brush RLE, and the basic-auth key Label Studio sends."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
from PIL import Image

from sam2refiner.service.core.errors import InvalidFieldError, PayloadTooLargeError
from sam2refiner.service.core.middleware import ApiKeyAuth
from sam2refiner.service.core.settings import Settings
from sam2refiner.service.integrations.labelstudio.brush import mask_to_rle, rle_to_mask
from sam2refiner.service.integrations.labelstudio.config import LabelConfig
from sam2refiner.service.integrations.labelstudio.fetch import TaskDataFetcher
from sam2refiner.service.integrations.labelstudio.protocol import context_objects

CONFIG = """<View><Image name="image" value="$image"/>
<BrushLabels name="brush" toName="image" sam2refiner_refine="false"><Label value="a"/></BrushLabels>
<KeyPointLabels name="kp" toName="image" smart="true"><Label value="a"/></KeyPointLabels>
<RectangleLabels name="rect" toName="image" smart="true"><Label value="a"/></RectangleLabels></View>"""


def test_config_reads_tags_and_the_refine_attribute():
    config = LabelConfig.parse(CONFIG)
    assert config.refine is False
    assert [c.name for c in config.image_outputs("image")] == ["brush"]
    assert config.objects["image"].value_key == "image"
    config.check_answerable()


@pytest.mark.parametrize(
    "text, message",
    [
        ("<View><Image name='i' value='$i'/><Choices name='c' toName='i'/></View>", "nothing this backend answers"),
        ("<View><Image", "not well-formed XML"),
        ("", "no labeling config"),
    ],
)
def test_configs_it_cannot_answer_are_refused_by_name(text, message):
    with pytest.raises(InvalidFieldError, match=message):
        LabelConfig.parse(text).check_answerable()


def test_clicks_make_one_object_and_an_unsupported_region_is_named():
    config = LabelConfig.parse(CONFIG)
    kp = {"from_name": "kp", "to_name": "image", "type": "keypointlabels", "value": {"x": 50, "y": 25}}
    negative = {**kp, "value": {"x": 10, "y": 10}, "is_positive": False}
    box = {"from_name": "rect", "to_name": "image", "type": "rectanglelabels"}
    box["value"] = {"x": 10, "y": 20, "width": 50, "height": 40}
    _, (obj,) = context_objects([kp, negative, box], config, (100, 200))
    assert obj.points == [[100.0, 25.0], [20.0, 10.0]] and obj.labels == [1, 0] and obj.box == [20.0, 20.0, 120.0, 60.0]
    with pytest.raises(InvalidFieldError, match="'ellipselabels' is not a prompt") as e:
        context_objects([{**kp, "type": "ellipselabels"}], config, (100, 200))
    assert e.value.field == "context.result.0.type"


def test_brush_rle_round_trips_through_label_studios_decoder():
    mask = np.zeros((37, 53), bool)
    mask[5:30, 7:41] = True
    mask[12, :] = False
    assert np.array_equal(rle_to_mask(mask_to_rle(mask), 37, 53), mask)


def fetcher(**settings) -> TaskDataFetcher:
    return TaskDataFetcher(Settings(**settings))


def fetch(f: TaskDataFetcher, url: str, max_bytes: int = 1 << 20) -> bytes:
    return asyncio.run(f.fetch(url, "tasks.0.data.image", max_bytes))


def test_fetches_from_allowed_hosts_with_the_token_only_to_label_studio(stand_in_host):
    root, url = stand_in_host
    (root / "a.bin").write_bytes(b"x" * 1000)
    assert fetch(fetcher(), f"{url}/a.bin") == b"x" * 1000  # loopback is allowed by default
    f = fetcher(labelstudio_url=url, labelstudio_token="tok")
    assert fetch(f, "/a.bin") == b"x" * 1000  # a Label Studio path, joined to its URL
    assert f.headers(f"{url}/a.bin") == {"Authorization": "Token tok"}
    assert f.headers("http://elsewhere.example/a.bin") == {}


@pytest.mark.parametrize(
    "url, settings, error, message",
    [
        ("http://10.0.0.7/a.png", {}, InvalidFieldError, "host '10.0.0.7' is not one task data may be fetched from"),
        ("/data/upload/1/a.png", {}, InvalidFieldError, "set SAM2REFINER_LABELSTUDIO_URL"),
        ("s3://bucket/a.png", {}, InvalidFieldError, "only http"),
        ("{url}/missing.png", {}, InvalidFieldError, "answered 404"),
        ("{url}/big.bin", {}, PayloadTooLargeError, "over the limit of 100 bytes"),
        ("http://127.0.0.1:9/a.png", {}, InvalidFieldError, "could not fetch"),
        ("{url}/a.bin", {"labelstudio_allowed_hosts": "ls.example.org"}, InvalidFieldError, "not one task data"),
        ("data:image/png,abc", {}, InvalidFieldError, "must be base64"),
    ],
)
def test_what_cannot_be_fetched_is_a_clear_client_error(stand_in_host, url, settings, error, message):
    root, base = stand_in_host
    (root / "big.bin").write_bytes(b"y" * 101)
    (root / "a.bin").write_bytes(b"x")
    with pytest.raises(error, match=message) as e:
        fetch(fetcher(**settings), url.format(url=base), max_bytes=100)
    assert e.value.field == "tasks.0.data.image"


def test_data_urls_are_decoded():
    buf = io.BytesIO()
    Image.new("RGB", (4, 3)).save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    assert fetch(fetcher(), url) == buf.getvalue()


@pytest.mark.parametrize(
    "path, header, allowed",
    [
        ("/labelstudio/predict", "Basic " + base64.b64encode(b"anyone:k3y").decode(), True),
        ("/labelstudio/predict", "Basic " + base64.b64encode(b"anyone:wrong").decode(), False),
        ("/labelstudio/predict", "Bearer k3y", True),
        ("/segment", "Basic " + base64.b64encode(b"anyone:k3y").decode(), False),  # basic auth only there
    ],
)
def test_label_studio_may_send_the_key_as_a_basic_auth_password(path, header, allowed):
    auth = ApiKeyAuth(None, Settings(api_key="k3y"))
    scope = {"type": "http", "path": path, "method": "POST", "headers": [(b"authorization", header.encode())]}
    assert auth._allowed(scope) is allowed
