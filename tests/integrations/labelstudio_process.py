"""A real Label Studio for the tests: installed in its own virtualenv (it pins its own dependencies; .ci/run makes
it), started on a free loopback port with SQLite in a temporary folder, stopped by its PID.

    with running_label_studio(workdir) as ls:     # ls.url, ls.token, ls.media (its local-files root)
        ls.sdk({"command": "project", ...})        # label-studio-sdk, run by Label Studio's own Python
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.service import processes
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# .ci/run sets the variable (a virtualenv kept by version under ~/.cache); a developer's is .venv-labelstudio.
VENV = Path(os.environ.get("SAM2REFINER_TEST_LABEL_STUDIO_VENV") or ROOT / ".venv-labelstudio")
DRIVER = Path(__file__).with_name("labelstudio_sdk_driver.py")
TOKEN = "sam2refiner-test-token"
START_TIMEOUT_S = 600  # a first start migrates an empty SQLite database: about 100 s on 2 busy cores


@dataclass
class LabelStudio:
    url: str
    token: str
    media: Path  # LOCAL_FILES_DOCUMENT_ROOT: files under it are served as /data/local-files/?d=<relative path>
    log: Path

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Token {self.token}"}

    def sdk(self, spec: dict) -> dict:
        """Runs the SDK driver in Label Studio's virtualenv; its JSON answer."""
        spec = {"url": self.url, "token": self.token, **spec}
        done = subprocess.run(
            [str(VENV / "bin" / "python"), str(DRIVER), json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"the SDK driver failed:\n{done.stderr[-4000:]}"
        return json.loads(done.stdout.strip().splitlines()[-1])


def executable() -> Path:
    program = VENV / "bin" / "label-studio"
    assert program.exists(), (
        f"Label Studio is not installed at {VENV} (python3 -m venv .venv-labelstudio && "
        ".venv-labelstudio/bin/pip install label-studio==1.23.2; .ci/run installs it): these tests need a real one"
    )
    return program


@contextmanager
def running_label_studio(workdir: Path, port: int) -> Iterator[LabelStudio]:
    program = executable()
    data, media = workdir / "data", workdir / "media"
    data.mkdir()
    media.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAM2REFINER_", "LABEL_STUDIO_", "DJANGO_"))}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data),
        DJANGO_DB="sqlite",
        ML_BLOCK_LOCAL_IP="false",  # the backend under test listens on loopback ...
        SSRF_PROTECTION_ENABLED="false",  # ... and connecting it adds a webhook to it, checked by this one
        LATEST_VERSION_CHECK="false",  # no call to PyPI
        LOCAL_FILES_SERVING_ENABLED="true",
        LOCAL_FILES_DOCUMENT_ROOT=str(media),
        ML_TIMEOUT_SETUP="30",  # the first setup of a busy service may take over Label Studio's 3 s
        ML_TIMEOUT_HEALTH="10",
    )
    url = f"http://127.0.0.1:{port}"
    log = workdir / "label-studio.log"
    args = [str(program), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data), "--username", "test@example.org", "--password", "sam2refiner-test"]
    args += ["--user-token", TOKEN, "--enable-legacy-api-token"]
    processes.STARTED.append("labelstudio")
    with open(log, "w") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)

    def up() -> bool:
        assert proc.poll() is None, f"Label Studio exited with code {proc.returncode}:\n{log.read_text()[-4000:]}"
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, START_TIMEOUT_S, f"Label Studio on {url} to answer")
        yield LabelStudio(url, TOKEN, media, log)
    finally:
        processes.stop(proc)
