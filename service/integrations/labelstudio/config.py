"""A Label Studio labeling config (its XML) read for what this backend needs: the image and video tags, the prompt
tags (``KeyPointLabels``, ``RectangleLabels``, ``VideoRectangle``) and the answer tags (``BrushLabels``,
``PolygonLabels``, ``VideoRectangle``), and whether a project asked for refinement (``sam2refiner_refine``).

    config = LabelConfig.parse(label_config_xml)
    image = config.object_of(control)            # the <Image>/<Video> a control points at
    outputs = config.image_outputs("image")     # the BrushLabels/PolygonLabels to answer in, for that image
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ...core.errors import InvalidFieldError

FIELD = "label_config"
OBJECT_TAGS = {"image": "image", "video": "video"}
PROMPT_TAGS = {"keypointlabels", "rectanglelabels"}
IMAGE_OUTPUTS = ("brushlabels", "polygonlabels")
REFINE_ATTRIBUTE = "sam2refiner_refine"  # on any control tag: "true" / "false"; unset = the service's default


@dataclass(frozen=True)
class ObjectTag:
    kind: str  # "image" or "video"
    name: str
    value_key: str  # the task data key: value="$image" -> "image"
    framerate: float | None = None  # <Video framerate="25">


@dataclass(frozen=True)
class ControlTag:
    kind: str  # the tag in lower case, as Label Studio's result "type": "brushlabels", "videorectangle", ...
    name: str
    to_name: str
    labels: tuple[str, ...] = ()


@dataclass
class LabelConfig:
    objects: dict[str, ObjectTag] = field(default_factory=dict)
    controls: dict[str, ControlTag] = field(default_factory=dict)
    refine: bool | None = None

    @classmethod
    def parse(cls, text: str | None) -> LabelConfig:
        if not text or not text.strip():
            raise InvalidFieldError(FIELD, "the request carries no labeling config")
        try:
            root = ET.fromstring(text)
        except ET.ParseError as e:
            raise InvalidFieldError(FIELD, f"the labeling config is not well-formed XML: {e}") from None
        config = cls()
        for element in root.iter():
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            name = element.get("name")
            if tag in OBJECT_TAGS and name:
                value = element.get("value", "")
                rate = element.get("framerate")
                config.objects[name] = ObjectTag(
                    OBJECT_TAGS[tag], name, value.lstrip("$"), _number(rate, f"{FIELD}.{name}.framerate")
                )
            elif element.get("toName") and name:
                labels = tuple(e.get("value", "") for e in element.iter() if e.tag.lower() == "label")
                config.controls[name] = ControlTag(tag, name, element.get("toName").split(",")[0], labels)
                if element.get(REFINE_ATTRIBUTE) is not None:
                    config.refine = _boolean(element.get(REFINE_ATTRIBUTE), f"{FIELD}.{name}.{REFINE_ATTRIBUTE}")
        return config

    # ------------------------------------------------------------------ lookups
    def control(self, name: str, where: str) -> ControlTag:
        control = self.controls.get(name)
        if control is None:
            raise InvalidFieldError(where, f"the labeling config has no control named {name!r}")
        return control

    def object_of(self, control: ControlTag, where: str) -> ObjectTag:
        obj = self.objects.get(control.to_name)
        if obj is None:
            raise InvalidFieldError(where, f"{control.name!r} points at {control.to_name!r}, not an Image or Video")
        return obj

    def image_outputs(self, image: str) -> list[ControlTag]:
        """The BrushLabels and PolygonLabels of ``image``: the masks are answered in each."""
        return [c for c in self.controls.values() if c.kind in IMAGE_OUTPUTS and c.to_name == image]

    def first_image(self) -> ObjectTag | None:
        return next((o for o in self.objects.values() if o.kind == "image" and self.image_outputs(o.name)), None)

    def video_tracks(self) -> list[ControlTag]:
        return [c for c in self.controls.values() if c.kind == "videorectangle" and c.to_name in self.objects]

    def check_answerable(self) -> None:
        """At least one thing this backend answers: brush or polygon labels on an image, or video rectangles."""
        if any(self.image_outputs(o.name) for o in self.objects.values() if o.kind == "image") or self.video_tracks():
            return
        raise InvalidFieldError(
            FIELD,
            "the labeling config has nothing this backend answers: give an <Image> a <BrushLabels> or "
            '<PolygonLabels> (prompted by <KeyPointLabels smart="true"> / <RectangleLabels smart="true">), '
            "or a <Video> a <VideoRectangle>",
        )


def output_label(control: ControlTag, wanted: str | None) -> list[str]:
    """The label an answer region carries: the prompt's label where the answer tag has it, else its first."""
    if wanted is not None and (wanted in control.labels or not control.labels):
        return [wanted]
    return [control.labels[0]] if control.labels else []


def _boolean(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise InvalidFieldError(where, f"{value!r} is not true or false")


def _number(value: str | None, where: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidFieldError(where, f"{value!r} is not a number") from None
    if not number > 0:
        raise InvalidFieldError(where, "must be positive")
    return number
