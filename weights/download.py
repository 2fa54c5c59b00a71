"""Downloads the official SAM 2.1 checkpoints into weights/ and verifies them against weights/SHA256SUMS.

    python weights/download.py hiera_l            # one config (hiera_t, hiera_s, hiera_b+, hiera_l)
    python weights/download.py --all
    python weights/download.py --verify-only      # check files already here
    python weights/download.py hiera_l --record   # add the sums of verified-good files to SHA256SUMS

Needs network access to dl.fbaipublicfiles.com; not run in CI. A file whose sum disagrees with SHA256SUMS is
deleted and the script fails. A file without a recorded sum is kept, with its sum printed, and the script
says so (record it once you trust the download, e.g. after comparing with a colleague's copy).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824"
FILES = {  # config -> official file name (as model.config.SAM2_CHECKPOINT_NAMES)
    "hiera_t": "sam2.1_hiera_tiny.pt",
    "hiera_s": "sam2.1_hiera_small.pt",
    "hiera_b+": "sam2.1_hiera_base_plus.pt",
    "hiera_l": "sam2.1_hiera_large.pt",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def recorded_sums() -> dict[str, str]:
    sums = {}
    path = HERE / "SHA256SUMS"
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def download(name: str) -> Path:
    target = HERE / name
    if target.exists():
        return target
    tmp = target.with_name(target.name + ".part")
    url = f"{BASE_URL}/{name}"
    print(f"downloading {url}")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length", 0))
        done = 0
        for chunk in iter(lambda: response.read(1 << 20), b""):
            out.write(chunk)
            done += len(chunk)
            if total:
                print(f"\r  {done / total:6.1%} of {total / 1e6:.0f} MB", end="", flush=True)
    print()
    tmp.replace(target)
    return target


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="*", metavar="CONFIG", help=f"one of {list(FILES)}")
    p.add_argument("--all", action="store_true")
    p.add_argument("--verify-only", action="store_true")
    p.add_argument("--record", action="store_true", help="append sums of files without one to SHA256SUMS")
    args = p.parse_args(argv)
    configs = list(FILES) if args.all or (args.verify_only and not args.configs) else args.configs
    if not configs:
        p.error("name a config or use --all")
    unknown = [c for c in configs if c not in FILES]
    if unknown:
        p.error(f"unknown configs {unknown}; choose from {list(FILES)}")
    sums, failed = recorded_sums(), False
    for config in configs:
        name = FILES[config]
        path = HERE / name if args.verify_only else download(name)
        if not path.exists():
            print(f"{name}: missing")
            failed = True
            continue
        digest = sha256(path)
        expected = sums.get(name)
        if expected is None:
            print(f"{name}: sha256 {digest} (no recorded sum to compare with)")
            if args.record:
                with open(HERE / "SHA256SUMS", "a") as f:
                    f.write(f"{digest}  {name}\n")
        elif digest == expected:
            print(f"{name}: OK")
        else:
            print(f"{name}: sha256 {digest} does not match the recorded {expected}; deleting it")
            path.unlink()
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
