"""Label Studio's SDK, run by Label Studio's own Python (its virtualenv has label-studio-sdk with every dependency;
the project's has only the brush converter). The tests call it as

    <label studio venv>/bin/python tests/integrations/labelstudio_sdk_driver.py '<json>'

with {"url", "token", "command", ...}; it prints one JSON object. Commands:

    project       creates a project, its local-files storage, imports tasks (uploaded files first, then JSON
                  tasks) and connects the ML backend: {"project", "tasks": [ids in that order], "ml"}
    predictions   Label Studio's "retrieve predictions" action on tasks, then the predictions it stored
"""

from __future__ import annotations

import json
import sys

import requests
from label_studio_sdk import LabelStudio


def project(ls: LabelStudio, spec: dict, url: str, token: str) -> dict:
    created = ls.projects.create(title=spec["title"], label_config=spec["label_config"])
    if spec.get("local_root"):
        ls.import_storage.local.create(project=created.id, path=spec["local_root"], title="local media")
    ids = []
    for path in spec.get("uploads", []):  # the web page's upload: multipart files -> /data/upload/... tasks
        with open(path, "rb") as f:
            answer = requests.post(
                f"{url}/api/projects/{created.id}/import?return_task_ids=true",
                headers={"Authorization": f"Token {token}"},
                files={"file": (path.rsplit("/", 1)[-1], f)},
                timeout=60,
            )
        answer.raise_for_status()
        ids += answer.json()["task_ids"]
    if spec.get("tasks"):
        ids += ls.projects.import_tasks(id=created.id, request=spec["tasks"], return_task_ids=True).task_ids
    backend = spec["backend"]
    ml = ls.ml.create(
        project=created.id,
        url=backend["url"],
        is_interactive=True,
        title="SAM2Refiner",
        **(
            {"auth_method": "BASIC_AUTH", "basic_auth_user": "sam2refiner", "basic_auth_pass": backend["key"]}
            if backend.get("key")
            else {}
        ),
        **({"extra_params": backend["extra_params"]} if backend.get("extra_params") else {}),
    )
    return {"project": created.id, "tasks": ids, "ml": ml.id}


def predictions(ls: LabelStudio, spec: dict) -> dict:
    ls.actions.create(
        id="retrieve_tasks_predictions",
        project=spec["project"],
        selected_items={"all": False, "included": spec["tasks"]},
    )
    stored = [p.dict() for p in ls.predictions.list(project=spec["project"])]
    return {"predictions": [{k: p.get(k) for k in ("task", "result", "model_version", "score")} for p in stored]}


def main() -> None:
    spec = json.loads(sys.argv[1])
    ls = LabelStudio(base_url=spec["url"], api_key=spec["token"])
    if spec["command"] == "project":
        out = project(ls, spec, spec["url"], spec["token"])
    elif spec["command"] == "predictions":
        out = predictions(ls, spec)
    else:
        raise SystemExit(f"unknown command {spec['command']!r}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
