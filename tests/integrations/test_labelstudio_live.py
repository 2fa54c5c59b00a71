"""Against a real Label Studio (its own virtualenv; started once per session): a project made with the SDK, tasks
from an upload, Label Studio's local files and a plain web host, and this service connected as its ML backend.
What Label Studio answers and stores is decoded with its own brush RLE decoder and compared with the service
called directly (``POST /segment``, the video WebSocket) with the same prompts."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from sam2refiner.service.integrations.labelstudio.brush import rle_to_mask
from tests.integrations.conftest import API_KEY
from tests.integrations.direct import DirectSegment, percent_box, websocket_boxes
from tests.integrations.media import FRAMES, HEIGHT, WIDTH, read_video

IMAGE_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="brush" toName="image"><Label value="thing"/><Label value="other"/></BrushLabels>
  <KeyPointLabels name="click" toName="image" smart="true"><Label value="thing" smart="true"/></KeyPointLabels>
  <RectangleLabels name="box" toName="image" smart="true"><Label value="thing" smart="true"/></RectangleLabels>
</View>"""

VIDEO_CONFIG = """<View>
  <Labels name="labels" toName="video"><Label value="ball"/></Labels>
  <Video name="video" value="$video" framerate="8"/>
  <VideoRectangle name="track" toName="video"/>
</View>"""

W, H = 160, 120  # the scene's size


def click(x_pct: float, y_pct: float, positive: bool = True) -> dict:
    return {
        "id": f"kp{x_pct}-{y_pct}",
        "from_name": "click",
        "to_name": "image",
        "type": "keypointlabels",
        "original_width": W,
        "original_height": H,
        "is_positive": positive,
        "value": {"x": x_pct, "y": y_pct, "width": 0.5, "keypointlabels": ["thing"]},
    }


def rectangle(x, y, w, h, from_name="box") -> dict:
    return {
        "id": "r1",
        "from_name": from_name,
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": W,
        "original_height": H,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": ["thing"]},
    }


@pytest.fixture(scope="module")
def image_project(label_studio, service, media):
    made = label_studio.sdk(
        {
            "command": "project",
            "title": "images",
            "label_config": IMAGE_CONFIG,
            "local_root": str(label_studio.media / "images"),
            "uploads": [str(media["upload"])],
            "tasks": [
                {"data": {"image": media["local_image"]}},
                {"data": {"image": media["http_image"]}},
                {  # pre-annotation: a task that already holds a box
                    "data": {"image": media["http_image"]},
                    "annotations": [{"result": [rectangle(25.0, 25.0, 50.0, 50.0)]}],
                },
                {"data": {"image": "http://127.0.0.1:9/unreachable.png"}},
            ],
            "backend": {"url": f"{service[0]}/labelstudio", "key": API_KEY},
        }
    )
    upload, local, http, boxed, unreachable = made["tasks"]
    return made | {"upload": upload, "local": local, "http": http, "boxed": boxed, "unreachable": unreachable}


def interactive(label_studio, project: dict, task: int, regions: list) -> dict:
    """Label Studio's own interactive-annotation call, as its labeling page makes it."""
    answer = httpx.post(
        f"{label_studio.url}/api/ml/{project['ml']}/interactive-annotating",
        json={"task": task, "context": {"result": regions}},
        headers=label_studio.headers,
        timeout=300,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def brush_mask(region: dict) -> np.ndarray:
    assert region["type"] == "brushlabels" and region["value"]["format"] == "rle"
    return rle_to_mask(region["value"]["rle"], region["original_height"], region["original_width"])


def test_click_correction_and_box_equal_segment(label_studio, service, image_project, scene):
    direct = DirectSegment(service[0], scene)
    first = interactive(label_studio, image_project, image_project["upload"], [click(37.5, 50.0)])
    (region,) = first["data"]["result"]
    assert region["value"]["brushlabels"] == ["thing"] and region["from_name"] == "brush"
    assert first["data"]["model_version"].startswith("sam2refiner-hiera_t-")
    expected = direct.segment(points=[[60.0, 60.0]], labels=[1])
    assert expected.any() and np.array_equal(brush_mask(region), expected)

    both = [click(37.5, 50.0), click(75.0, 20.0, positive=False)]  # a corrective negative click
    second = interactive(label_studio, image_project, image_project["upload"], both)
    expected = direct.segment(points=[[60.0, 60.0], [120.0, 24.0]], labels=[1, 0], correct=True)
    assert np.array_equal(brush_mask(second["data"]["result"][0]), expected)

    boxed = interactive(label_studio, image_project, image_project["upload"], [rectangle(12.5, 25.0, 50.0, 50.0)])
    expected = direct.segment(box=[20.0, 30.0, 100.0, 90.0])
    assert np.array_equal(brush_mask(boxed["data"]["result"][0]), expected)


def test_local_files_and_web_hosts_are_fetched(label_studio, service, image_project, scene):
    for task, pixels in ((image_project["local"], scene[:, ::-1]), (image_project["http"], scene[::-1])):
        answer = interactive(label_studio, image_project, task, [click(37.5, 50.0)])
        expected = DirectSegment(service[0], np.ascontiguousarray(pixels)).segment(points=[[60.0, 60.0]], labels=[1])
        assert np.array_equal(brush_mask(answer["data"]["result"][0]), expected)


def test_predictions_are_stored_in_label_studio(label_studio, service, image_project, scene):
    tasks = [image_project["boxed"], image_project["upload"]]
    stored = label_studio.sdk({"command": "predictions", "project": image_project["project"], "tasks": tasks})
    by_task = {p["task"]: p for p in stored["predictions"]}
    assert set(tasks) <= set(by_task)
    (region,) = by_task[image_project["boxed"]]["result"]  # the task's box became a mask
    expected = DirectSegment(service[0], np.ascontiguousarray(scene[::-1])).segment(box=[40.0, 30.0, 120.0, 90.0])
    assert np.array_equal(brush_mask(region), expected)
    assert region["value"]["brushlabels"] == ["thing"]
    assert by_task[image_project["upload"]]["result"] == []  # no box, nothing to pre-annotate
    setup = httpx.post(
        f"{service[0]}/labelstudio/setup",
        json={"project": str(image_project["project"]), "schema": IMAGE_CONFIG},
        auth=("anyone", API_KEY),
    )
    assert by_task[image_project["boxed"]]["model_version"] == setup.json()["model_version"]


def test_video_keyframe_tracks_like_the_websocket(label_studio, service, media):
    made = label_studio.sdk(
        {
            "command": "project",
            "title": "video",
            "label_config": VIDEO_CONFIG,
            "local_root": str(label_studio.media / "images"),
            "tasks": [{"data": {"video": media["video"]}}],
            "backend": {"url": f"{service[0]}/labelstudio", "key": API_KEY},
        }
    )
    box = [16.0, 28.0, 58.0, 70.0]  # around the ball on frame 1, in pixels
    keyframe = {"frame": 1, "enabled": True, "rotation": 0, "time": 0.0, **percent_box(box, (HEIGHT, WIDTH))}
    region = {
        "id": "ball1",
        "from_name": "track",
        "to_name": "video",
        "type": "videorectangle",
        "value": {"sequence": [keyframe], "labels": ["ball"], "framesCount": FRAMES, "duration": FRAMES / 8},
    }
    answer = interactive(label_studio, made, made["tasks"][0], [region])
    (track,) = answer["data"]["result"]
    assert track["type"] == "videorectangle" and track["id"] == "ball1" and track["value"]["labels"] == ["ball"]
    sequence = {item["frame"]: item for item in track["value"]["sequence"]}
    assert sorted(sequence) == list(range(1, FRAMES + 1))  # every frame
    box_keys = ("x", "y", "width", "height")
    assert {k: sequence[1][k] for k in box_keys} == {k: keyframe[k] for k in box_keys}  # the keyframe as it was
    reference = websocket_boxes(service[0], read_video(media["video_path"]), box, "ls-video-reference")
    for frame in range(1, FRAMES):  # the tracked frames after the keyframe
        expected = reference[frame]
        item = sequence[frame + 1]
        if expected is None:
            assert item["enabled"] is False
        else:
            assert item["enabled"] is True
            assert {k: item[k] for k in box_keys} == percent_box(expected, (HEIGHT, WIDTH))


def test_bad_input_is_a_clear_client_error_and_the_service_stays_healthy(label_studio, service, image_project):
    unreachable = httpx.post(
        f"{label_studio.url}/api/ml/{image_project['ml']}/interactive-annotating",
        json={"task": image_project["unreachable"], "context": {"result": [click(37.5, 50.0)]}},
        headers=label_studio.headers,
        timeout=120,
    ).json()
    assert "422" in " ".join(unreachable["errors"])  # Label Studio relays the status only ...
    log = service[1].read_text()
    assert "could not fetch 'http://127.0.0.1:9/unreachable.png'" in log  # ... the reason is in the service's log

    unsupported = dict(click(37.5, 50.0), type="ellipselabels")
    answer = httpx.post(
        f"{label_studio.url}/api/ml/{image_project['ml']}/interactive-annotating",
        json={"task": image_project["upload"], "context": {"result": [unsupported]}},
        headers=label_studio.headers,
        timeout=120,
    ).json()
    assert "422" in " ".join(answer["errors"])
    assert "'ellipselabels' is not a prompt this backend takes" in service[1].read_text()

    assert httpx.get(f"{service[0]}/readyz").status_code == 200
    again = interactive(label_studio, image_project, image_project["upload"], [click(37.5, 50.0)])
    assert again["data"]["result"][0]["type"] == "brushlabels"
