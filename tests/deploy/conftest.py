"""Shared by the deployment tests: the repository root, the Kubernetes overlays rendered once by
``kubectl kustomize`` (client-side, no cluster), and what the code says the deployment must match."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.parent.name for p in (ROOT / "deploy" / "overlays").glob("*/kustomization.yaml"))


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render(path: Path) -> list[dict]:
    exe = kubectl()
    if exe is None:  # .ci/run installs it; a developer machine without it skips rather than fails
        pytest.skip("kubectl is not installed (apt-get install kubectl); the overlays cannot be rendered")
    result = subprocess.run([exe, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {path.relative_to(ROOT)}:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {name: render(ROOT / "deploy" / "overlays" / name) for name in OVERLAYS}


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def load_yaml(relative: str) -> dict:
    return yaml.safe_load((ROOT / relative).read_text())
