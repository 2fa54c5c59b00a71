"""The Python clients need neither torch nor FastAPI, and the light distribution in clients/python installs them
alone: its wheel holds only the client's modules and declares every third-party package they import."""

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_MODULES = ("service.client", "service.video_client")
BLOCKED = ("torch", "torchvision", "sam2", "model", "fastapi", "starlette", "uvicorn", "pydantic", "pydantic_settings")

# Runs in a fresh interpreter: any import of a blocked package raises, then the clients are imported and used a
# little (a mask decoded the way the client decodes answers), and the modules they loaded are reported.
_PROBE = """
import importlib, importlib.abc, json, sys
BLOCKED = set(%(blocked)r)

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the client must not need it")
        return None

sys.meta_path.insert(0, Block())
for name in %(modules)r:
    importlib.import_module(name)
from sam2refiner.service.client import SAM2RefinerClient, decode_response
body = {"image_id": "img_x", "width": 3, "height": 2, "format": "rle", "timings_ms": {},
        "objects": [{"masks": [{"mask": {"size": [2, 3], "counts": [1, 4, 1]}, "score": 0.5, "logits_id": "lg"}]}]}
assert decode_response(body).objects[0].masks.sum() == 4
SAM2RefinerClient("http://127.0.0.1:9").close()
files = {n: getattr(m, "__file__", None) for n, m in sys.modules.items()}
print(json.dumps({"files": files}))
"""


def _probe(cwd: Path, pythonpath: str) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    script = _PROBE % {"blocked": BLOCKED, "modules": CLIENT_MODULES}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    hint = (
        "service.client / service.video_client must import neither torch nor FastAPI (nor pydantic), and every "
        "module of ours they import must be listed in clients/python/pyproject.toml (py-modules)"
    )
    assert result.returncode == 0, f"{hint}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_clients_import_without_torch_or_fastapi(tmp_path):
    loaded = _probe(tmp_path, str(ROOT))["files"]
    assert not {n.split(".")[0] for n in loaded} & set(BLOCKED)
    assert Path(loaded["service.client"]).parent == ROOT / "service"


@pytest.fixture(scope="module")
def light_wheel(tmp_path_factory) -> Path:
    """Builds clients/python from a copy of the tree (its in-tree build folder stays out of the checkout)."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "service", tree / "service", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "clients" / "python", tree / "clients" / "python", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    out = tmp_path_factory.mktemp("wheel")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
        str(tree / "clients" / "python"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("sam2refiner_client-*.whl")
    return wheel


def test_light_wheel_holds_only_the_clients_and_declares_what_they_import(light_wheel, tmp_path):
    with zipfile.ZipFile(light_wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        z.extractall(tmp_path / "site")
    modules = sorted(n for n in names if n.endswith(".py"))
    assert modules == [
        "service/__init__.py",
        "service/client.py",
        "service/core/__init__.py",
        "service/core/errors.py",
        "service/core/masks.py",
        "service/video_client.py",
    ]
    requires = {
        line.split(":", 1)[1].split(";")[0].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    declared = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requires}
    assert not declared & {"torch", "fastapi", "uvicorn", "rf-sam-2"}

    # Imported from the unpacked wheel alone (the checkout is not on the path), with torch and FastAPI blocked.
    site = tmp_path / "site"
    loaded = _probe(tmp_path, str(site))["files"]
    ours = {n: f for n, f in loaded.items() if n == "service" or n.startswith("service.")}
    assert ours and all(f and Path(f).is_relative_to(site) for f in ours.values()), ours

    # Every package their code imports (at the top or inside a function) is stdlib, ours, or declared.
    from importlib.metadata import packages_distributions

    dist_of = packages_distributions()
    imported = set()
    for module in modules:
        for node in ast.walk(ast.parse((site / module).read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"service", "__future__"}
    assert {"httpx", "numpy", "websockets", "pycocotools", "cv2", "PIL"} <= third_party
    undeclared = {top for top in third_party if not {d.lower() for d in dist_of.get(top, [])} & declared}
    assert not undeclared, f"imported by the client but not in clients/python/pyproject.toml: {undeclared}"
