"""The page is served by the app itself, without the API key, and ships in the package: every file under
``service/web/static`` is package data, and nothing the page loads comes from the network (no CDN, no build)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from sam2refiner.service.core.settings import Settings
from sam2refiner.service.web.router import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = STATIC_DIR.parent  # sam2refiner.service.web
FIRST_PARTY = ("index.html", "app.css", "js/")


def static_files() -> list[Path]:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())


def import_map() -> dict[str, str]:
    html = (STATIC_DIR / "index.html").read_text()
    block = re.search(r'<script type="importmap">(.*?)</script>', html, re.S)
    return json.loads(block.group(1))["imports"] if block else {}


def module_specifiers(text: str) -> list[str]:
    """What a JavaScript module imports: static ``import``/``export ... from`` and dynamic ``import()``."""
    static = re.findall(r"""(?:^|[;\s])(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]""", text, re.M)
    bare = re.findall(r"""(?:^|[;\s])import\s*['"]([^'"]+)['"]""", text, re.M)
    dynamic = re.findall(r"""\bimport\(\s*['"]([^'"]+)['"]\s*\)""", text)
    return static + bare + dynamic


def test_page_and_modules_load_without_the_key_while_the_api_needs_it():
    client = TestClient(create_app(Settings(sam2_config="hiera_t", image_size=256, device="cpu", api_key="k3y")))
    page = client.get("/")  # no lifespan: serving the page needs no model
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = re.findall(r'(?:src|href)="(web/[^"]+)"', page.text) + [u.lstrip("./") for u in import_map().values()]
    assert "web/js/main.js" in refs
    for ref in refs:
        asset = client.get(f"/{ref}")
        assert asset.status_code == 200, ref
        if ref.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], ref
    assert client.get("/v1/model").status_code == 401
    assert client.get("/web/%2e%2e/router.py").status_code == 404  # only the static folder is served


def test_the_wheel_ships_exactly_the_static_folder(tmp_path):
    """What pip installs (and so the Docker image, which installs the wheel) holds every file of ``static/`` and
    none of the page's tooling (package.json, scripts, tests)."""
    # Built from a copy of what the Dockerfile copies, so that no build/ folder of an earlier build leaks in.
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pt", "*.safetensors", ".cache")
    for folder in ("model", "service", "weights"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path)]
    built = subprocess.run([*pip, str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("sam2refiner-*.whl")
    prefix = "sam2refiner/service/web/"
    with zipfile.ZipFile(wheel) as z:
        shipped = {n.removeprefix(prefix) for n in z.namelist() if n.startswith(prefix)}
    static = {p.relative_to(PACKAGE_DIR).as_posix() for p in static_files()}
    assert shipped - {"__init__.py", "router.py"} == static


def test_nothing_the_page_loads_comes_from_the_network():
    """First-party files name no remote address at all; every module specifier (first-party or vendored) is a
    relative path to a file that exists or a bare name the page's import map sends to a vendored file."""
    mapped = import_map()
    assert set(mapped) >= {"fflate", "fast-png", "iobuffer"}
    for name, target in mapped.items():
        assert target.startswith("./web/vendor/"), (name, target)
        assert (STATIC_DIR / target.removeprefix("./web/")).is_file(), (name, target)
    for path in static_files():
        rel = path.relative_to(STATIC_DIR).as_posix()
        if path.suffix == ".wasm":  # onnxruntime-web's WebAssembly binary (vendored): no text, no links
            continue
        text = path.read_text()
        if rel.startswith(FIRST_PARTY):
            assert not re.search(r"https?://(?!localhost)", text.replace("http://www.w3.org", "")), f"{rel} links out"
        if path.suffix != ".js":
            continue
        for spec in module_specifiers(text):
            if spec.startswith("."):
                assert (path.parent / spec).resolve().is_file(), f"{rel} imports {spec}, which is not there"
            else:
                assert spec in mapped, f"{rel} imports {spec!r}, which the import map does not send to a vendored file"


def test_every_vendored_library_ships_its_license():
    vendor = STATIC_DIR / "vendor"
    libraries = [d for d in vendor.iterdir() if d.is_dir()]
    assert {d.name for d in libraries} >= {"fflate", "fast-png", "iobuffer", "idb-keyval"}
    for lib in libraries:
        text = (lib / "LICENSE").read_text()  # MIT's grant, or Apache 2.0's (idb-keyval)
        assert "Permission is hereby granted" in text or "Apache License, Version 2.0" in text, lib.name
