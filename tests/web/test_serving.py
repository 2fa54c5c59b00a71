"""The page is served by the app itself, without the API key, and ships in the package (no CDN, no build)."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from sam2refiner.service.core.settings import Settings
from sam2refiner.service.routes.web import WEB_DIR

ROOT = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def test_page_and_modules_load_without_the_key_while_the_api_needs_it():
    client = TestClient(create_app(Settings(sam2_config="hiera_t", image_size=256, device="cpu", api_key="k3y")))
    page = client.get("/")  # no lifespan: serving the page needs no model
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for ref in re.findall(r'(?:src|href)="(web/[^"]+)"', page.text):
        asset = client.get(f"/{ref}")
        assert asset.status_code == 200, ref
    module = client.get("/web/js/main.js")
    assert "javascript" in module.headers["content-type"]
    assert client.get("/v1/model").status_code == 401
    assert client.get("/web/%2e%2e/routes/web.py").status_code == 404  # only the web folder is served


def test_every_static_file_is_package_data_and_nothing_comes_from_the_network():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "sam2refiner.service"
    ]
    files = [p for p in WEB_DIR.rglob("*") if p.is_file()]
    assert files
    for path in files:
        rel = path.relative_to(WEB_DIR.parent).as_posix()
        assert any(fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs), f"{rel} is not package data"
        text = path.read_text()
        assert not re.search(r"https?://(?!localhost)", text.replace("http://www.w3.org", "")), f"{rel} links out"
