"""clients/python is a distribution of its own: its wheel and its sdist hold the client's sources, it declares
every package they import, it imports nothing of the server, and a fresh venv installs it without torch, FastAPI
or OpenCV and runs ``sam2refiner-client``."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "clients" / "python"
SOURCES = sorted(p.relative_to(PROJECT / "src").as_posix() for p in (PROJECT / "src").rglob("*.py"))
HEAVY = ("torch", "torchvision", "sam2", "sam2refiner", "fastapi", "starlette", "uvicorn", "pydantic", "cv2")

# Run in a fresh interpreter: importing a heavy package raises; the client is imported and used a little (every
# mask format decoded, both clients made) and the files of what it loaded are printed.
PROBE = """
import importlib.abc, json, sys
HEAVY = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{name}: the client must not need it")

sys.meta_path.insert(0, Block())
import sam2refiner_client as c
import sam2refiner_client.cli
square = [[1, 1, 1, 3, 3, 3, 3, 1]]
assert c.decode_mask(square, "polygons", 5, 5).sum() == 9
assert c.decode_mask(c.encode_rle(c.decode_mask(square, "polygons", 5, 5)), "rle").sum() == 9
c.SAM2RefinerClient("http://127.0.0.1:9").close()
c.AsyncSAM2RefinerClient("http://127.0.0.1:9")
print(c.__file__)
"""


def _probe(python: str, pythonpath: str | None, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run(
        [python, "-c", PROBE, ",".join(HEAVY)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The wheel (``pip wheel``) and the sdist (setuptools' PEP 517 hook, as ``python -m build`` calls it) of a
    copy of clients/python, so that no build folder lands in the checkout."""
    tree = tmp_path_factory.mktemp("tree") / "python"
    shutil.copytree(PROJECT, tree, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    out = tmp_path_factory.mktemp("dists")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out)]
    result = subprocess.run([*pip_wheel, str(tree)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    sdist = [sys.executable, "-c", f"import setuptools.build_meta as b; b.build_sdist({str(out)!r})"]
    result = subprocess.run(sdist, cwd=tree, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("sam2refiner_client-*.whl")
    (tarball,) = out.glob("sam2refiner_client-*.tar.gz")
    return {"wheel": wheel, "sdist": tarball}


def test_wheel_and_sdist_hold_the_clients_sources(dists, tmp_path):
    assert "sam2refiner_client/__init__.py" in SOURCES and "sam2refiner_client/_core.py" in SOURCES
    with zipfile.ZipFile(dists["wheel"]) as z:
        wheel_files = z.namelist()
        entry_points = z.read(next(n for n in wheel_files if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert sorted(n for n in wheel_files if n.endswith(".py")) == SOURCES
    assert "sam2refiner-client = sam2refiner_client.cli:main" in entry_points
    with tarfile.open(dists["sdist"]) as tar:
        members = [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]
        tar.extractall(tmp_path, filter="data")
    assert sorted(m.removeprefix("src/") for m in members if m.endswith(".py")) == SOURCES
    assert {"pyproject.toml", "README.md", "PKG-INFO"} <= set(members)
    # The sdist alone builds the same wheel (offline: no build isolation).
    (unpacked,) = tmp_path.glob("sam2refiner_client-*")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path)]
    result = subprocess.run([*cmd, str(unpacked)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (rebuilt,) = tmp_path.glob("sam2refiner_client-*.whl")
    assert sorted(zipfile.ZipFile(rebuilt).namelist()) == sorted(wheel_files)


def test_the_client_declares_what_it_imports_and_imports_nothing_heavy(dists, tmp_path):
    with zipfile.ZipFile(dists["wheel"]) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        z.extractall(tmp_path / "site")
    declared = {
        line.split(":", 1)[1].split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    assert declared == {"httpx", "numpy", "pillow", "pycocotools", "websockets"}
    imported = set()
    for source in SOURCES:  # every import, at the top or inside a function
        for node in ast.walk(ast.parse((PROJECT / "src" / source).read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", "sam2refiner_client"}
    assert not third_party & set(HEAVY), third_party & set(HEAVY)
    dist_of = packages_distributions()
    undeclared = {top for top in third_party if not {d.lower() for d in dist_of.get(top, [])} & declared}
    assert not undeclared, f"imported by the client but not declared in clients/python/pyproject.toml: {undeclared}"
    # Imported from the unpacked wheel alone (the checkout is not on the path), with the heavy packages blocked.
    loaded_from = _probe(sys.executable, str(tmp_path / "site"), tmp_path)
    assert Path(loaded_from).is_relative_to(tmp_path / "site")


@pytest.mark.slow
def test_a_fresh_venv_installs_the_wheel_without_torch_fastapi_or_opencv(dists, tmp_path):
    """Network: pip fetches the client's few dependencies from the package index."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, script = venv / "bin" / "python", venv / "bin" / "sam2refiner-client"
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(dists["wheel"])]
    result = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr

    frozen = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    installed = {line.split("==")[0].split(" @ ")[0].lower() for line in frozen.stdout.splitlines()}
    assert "sam2refiner-client" in installed
    assert not installed & {"torch", "fastapi", "starlette", "uvicorn", "opencv-python", "opencv-python-headless"}
    assert not any(name.startswith(("nvidia-", "opencv")) for name in installed), installed

    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "usage: sam2refiner-client" in shown.stdout, shown.stderr
    segment = subprocess.run([str(script), "segment", "--help"], capture_output=True, text=True, timeout=60)
    assert segment.returncode == 0 and "--box" in segment.stdout, segment.stderr
    assert Path(_probe(str(python), None, tmp_path)).is_relative_to(venv)
