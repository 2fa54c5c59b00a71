"""The Label Studio ML backend behind the routes: which kind of request this is (a smart tool on an image, a
video's keyframes, or predictions for tasks), the project's refine choice, and the model version.

    backend = LabelStudioBackend(runtime, engine, settings)     # once per process, on first use
    version = backend.setup(setup_request)                      # checks the labeling config
    results = await backend.predict(predict_request)            # one prediction per task
"""

from __future__ import annotations

import logging
import tempfile

from sam2refiner.model.video import TrackPrompt

from ...core.errors import InvalidFieldError
from ...core.prompts import check_geometry
from ...core.runtime import Runtime
from ...core.settings import Settings
from ...image.engine import ImageEngine
from .config import LabelConfig
from .fetch import TaskDataFetcher
from .images import LabelStudioImages
from .protocol import (
    PredictRequest,
    SetupRequest,
    VideoTrack,
    box_pixels,
    prediction,
    project_id,
    task_video_regions,
    video_region,
    video_tracks,
)
from .video import VideoFrames, track_keyframes

log = logging.getLogger("sam2refiner.service.labelstudio")


class LabelStudioBackend:
    def __init__(self, runtime: Runtime, engine: ImageEngine, settings: Settings):
        self.runtime, self.settings = runtime, settings
        self.fetcher = TaskDataFetcher(settings)
        self.images = LabelStudioImages(engine, settings, self.fetcher)
        self._extra_params: dict[str, dict] = {}  # project id -> the extra_params of its last setup (this process)

    # ------------------------------------------------------------------ routes
    def setup(self, req: SetupRequest) -> str:
        config = LabelConfig.parse(req.label_config)
        config.check_answerable()
        project = project_id(req.project)
        if project is not None and req.extra_params is not None:
            self._extra_params[project] = req.extra_params
        return self.model_version(self._refine(config, project))

    async def predict(self, req: PredictRequest) -> list[dict]:
        config = LabelConfig.parse(req.label_config)
        project = project_id(req.project)
        refine = self._refine(config, project)
        version = self.model_version(refine)
        for i, task in enumerate(req.tasks):
            if not isinstance(task, dict):
                raise InvalidFieldError(f"tasks.{i}", "a task must be an object")
        context = (req.params.context or {}).get("result")
        if context is not None and not isinstance(context, list):
            raise InvalidFieldError("params.context.result", "must be a list of regions")
        if context:  # a smart tool (or a video's keyframes), on one task
            if _is_video(context):
                return [await self._video(req.tasks[0], context, "context.result", config, refine, version)]
            return [await self.images.interactive(req.tasks[0], context, config, refine, version)]
        answers = []
        for i, task in enumerate(req.tasks):  # predictions for tasks: a mask per box they hold, video keyframes
            regions, where = task_video_regions(task, config)
            if regions:
                answers.append(await self._video(task, regions, where, config, refine, version))
            else:
                answers.append(await self.images.preannotate(task, i, config, refine, version))
        return answers

    def model_version(self, refine: bool) -> str:
        """The served weights: SAM 2's config and file hash, the refiner's, and whether this project refines."""
        w = self.runtime.weights
        sam2 = (w.sam2_sha256 or f"random{w.seed}")[:12]
        refiner = (w.refiner_sha256 or "")[:12] or w.refiner  # a hash, "random" or "none"
        return f"sam2refiner-{w.config}-sam2.{sam2}-refiner.{refiner}-refine.{'on' if refine else 'off'}"

    # ------------------------------------------------------------------ internals
    def _refine(self, config: LabelConfig, project: str | None) -> bool:
        """The label config's ``sam2refiner_refine``, else the project's extra_params ``refine``, else the
        service's default; 409 when a refiner is asked for and none is loaded."""
        wanted = config.refine
        if wanted is None and project is not None:
            extra = self._extra_params.get(project, {}).get("refine")
            if extra is not None and not isinstance(extra, bool):
                raise InvalidFieldError("extra_params.refine", "must be true or false")
            wanted = extra
        return self.runtime.refine.resolve(wanted)

    async def _video(self, task: dict, regions: list, where: str, config: LabelConfig, refine, version) -> dict:
        video, tracks = video_tracks(regions, config, where)
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        url = data.get(video.value_key)
        field = f"tasks.0.data.{video.value_key}"
        if not isinstance(url, str) or not url:
            raise InvalidFieldError(field, f"the task has no {video.value_key!r} (the labeling config's <Video>)")
        if len(tracks) > self.settings.video_max_objects:
            raise InvalidFieldError(where, f"{len(tracks)} objects; the limit is {self.settings.video_max_objects}")
        start = min(min(t.keyframes) for t in tracks)
        with tempfile.NamedTemporaryFile(prefix="sam2refiner-ls-", suffix=".video") as file:
            await self.fetcher.fetch_to(url, field, self.settings.labelstudio_max_video_bytes, file.write)
            file.flush()
            frames = VideoFrames(
                file.name, start, self.settings.labelstudio_max_video_frames, self.settings.max_image_pixels, field
            )
            await frames.open()
            tracked = await track_keyframes(
                self.runtime, frames, _keyframe_prompts(tracks, where), refine, self.settings.video_max_cond_frames
            )
        fps = video.framerate or frames.fps
        regions_out = [
            video_region(track, video, tracked.boxes.get(obj_id, {}), fps, frames.frames_count, frames.hw)
            for obj_id, track in enumerate(tracks, start=1)
        ]
        return prediction(regions_out, [], version)


def _keyframe_prompts(tracks: list[VideoTrack], where: str):
    """The box prompts on a frame: every track with a keyframe there (object ids 1, 2, ... in region order)."""

    def prompts_at(index: int, hw: tuple[int, int]) -> list[TrackPrompt]:
        prompts = []
        for obj_id, track in enumerate(tracks, start=1):
            if index in track.keyframes:
                box = box_pixels(track.keyframes[index], hw)
                _, _, box = check_geometry(None, None, box, hw, f"{where}.{obj_id - 1}.value.sequence")
                prompts.append(TrackPrompt(obj_id, box=box))
        return prompts

    return prompts_at


def _is_video(context: list) -> bool:
    return any(isinstance(r, dict) and str(r.get("type", "")).lower() == "videorectangle" for r in context)
