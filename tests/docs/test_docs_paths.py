"""The docs cannot silently rot: every repository path and every ``sam2refiner`` module they name exists.

Checked in README.md, every page of docs/ and the READMEs inside the project's folders: text in backticks, fenced
code blocks, and link and image targets. A token counts as a repository path when it has a ``/`` and starts with
one of the repository's top-level folders (or ends in a source file's extension); a bare file name in a folder's
own README (``config.py`` in ``model/README.md``) is a path in that folder. A class in backticks (``ImageEngine``,
``SAM2Refiner.predict_masks``) must be defined in our code or in sam2's, with that attribute. Outputs that the code writes, rather
than the repository holds, are listed in OUTPUTS with the reason.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Top-level folders of the layout: a path starting with one of them is checked even if the folder is gone.
ROOTS = {"model", "service", "weights", "clients", "docs", "bench", "deploy", "docker", "tests", "configs", ".ci"}
EXTENSIONS = {".py", ".md", ".yml", ".yaml", ".toml", ".json", ".sh", ".conf", ".env", ".html", ".css", ".js", ".png"}
# Paths the docs name that the repository does not hold, because something writes them.
OUTPUTS = {
    "weights/*.pt": "official SAM 2.1 checkpoints, written by `sam2refiner download --to weights`",
    "weights/*.safetensors": "refiner checkpoints, written by training",
}
# Python import roots -> the folder holding them.
MODULE_ROOTS = {
    "sam2refiner.model": "model",
    "sam2refiner.service": "service",
    "sam2refiner.weights": "weights",
    "sam2refiner_client": "clients/python/src/sam2refiner_client",
}
SKIP_DIRS = {"node_modules", "vendor", "site", "build", "dist"}
README_LINES = 250
# Names in backticks that look like classes but are Python's or the browser's, not ours or sam2's.
NOT_CLASSES = {"True", "False", "None", "ValueError", "CompressionStream"}
CODE_DIRS = ("model", "service", "weights", "clients", "bench")


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for top in sorted(ROOTS - {"docs"}):
        files += [p for p in sorted((ROOT / top).rglob("README.md")) if not SKIP_DIRS & set(p.parts)]
    return files


def _spans(text: str) -> tuple[list[str], list[str]]:
    """(code: the contents of fenced blocks and inline code spans, links: link and image targets)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    inline = re.findall(r"`([^`\n]+)`", prose)
    links = re.findall(r"\]\(([^)\s]+)\)", prose) + re.findall(r'(?:src|href)="([^"]+)"', prose)
    return blocks + inline, links


def _tokens(code: str) -> list[str]:
    return [t.strip(".,:;") for t in re.split(r"[\s=(),\[\]\"'|]+", code) if t.strip(".,:;")]


def is_repo_path(token: str) -> bool:
    if not re.fullmatch(r"\.?[A-Za-z0-9_][\w.+*-]*(/[\w.+*-]+)*/?", token) or "/" not in token:
        return False
    return token.split("/")[0] in ROOTS or Path(token.rstrip("/")).suffix in EXTENSIONS


def path_exists(path: str) -> bool:
    path = path.rstrip("/")
    if any(fnmatch.fnmatch(path, pattern) for pattern in OUTPUTS):
        return True
    return any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()


def _module_file(parts: list[str]) -> tuple[Path | None, list[str]]:
    """The file of the longest importable prefix of ``parts`` and the attribute names after it."""
    for prefix, folder in MODULE_ROOTS.items():
        n = len(prefix.split("."))
        if parts[:n] != prefix.split("."):
            continue
        here, rest = ROOT / folder, parts[n:]
        while rest and ((here / rest[0]).is_dir() or (here / f"{rest[0]}.py").is_file()):
            here = here / rest[0] if (here / rest[0]).is_dir() else here / f"{rest[0]}.py"
            rest = rest[1:]
        return (here / "__init__.py" if here.is_dir() else here), rest
    return None, []


def module_problem(name: str) -> str | None:
    """Why ``name`` (``sam2refiner.service.core.errors.ERROR_CODES``) does not resolve, or None."""
    parts = name.split(".")
    if parts[0] == "sam2refiner" and len(parts) < 2:
        return None
    file, attributes = _module_file(parts)
    if file is None:
        return f"{name}: no such package (known: {sorted(MODULE_ROOTS)})"
    if not file.is_file():
        return f"{name}: {file.relative_to(ROOT)} does not exist"
    if attributes and not re.search(rf"\b{re.escape(attributes[0])}\b", file.read_text()):
        return f"{name}: {file.relative_to(ROOT)} defines no {attributes[0]}"
    return None


@lru_cache
def class_files() -> dict[str, list[Path]]:
    """Class name -> the files defining it, in our code (Python and the page's JavaScript) and in sam2."""
    sam2 = importlib.util.find_spec("sam2")
    folders = [ROOT / d for d in CODE_DIRS] + [Path(p) for p in (sam2.submodule_search_locations or [])]
    found: dict[str, list[Path]] = {}
    for folder in folders:
        for file in [*folder.rglob("*.py"), *folder.rglob("*.js")]:
            if SKIP_DIRS & set(file.parts):
                continue
            for name in re.findall(r"^\s*(?:export\s+)?class\s+(\w+)", file.read_text(errors="replace"), re.M):
                found.setdefault(name, []).append(file)
    return found


def class_problem(span: str) -> str | None:
    """Why ``Class`` or ``Class.attribute`` in backticks names nothing in our code or sam2's, or None."""
    named = re.fullmatch(r"([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(?:\.(\w+))?(?:\(\))?", span)
    if not named or named.group(1) in NOT_CLASSES:
        return None
    cls, attribute = named.groups()
    files = class_files().get(cls)
    if not files:
        return f"{span}: no class {cls} in {', '.join(CODE_DIRS)} or sam2"
    if attribute and not any(re.search(rf"\b{attribute}\b", f.read_text(errors="replace")) for f in files):
        return f"{span}: the files defining {cls} have no {attribute}"
    return None


def problems(doc: Path) -> list[str]:
    text = doc.read_text()
    code, links = _spans(text)
    found = [class_problem(span) for span in code]
    in_subfolder = doc.parent not in (ROOT, ROOT / "docs") and ROOT / "docs" not in doc.parents
    for chunk in code:
        for module, names in re.findall(r"from\s+(sam2refiner[\w.]*)\s+import\s+([\w, ]+)", chunk):
            found += [module_problem(f"{module}.{n.strip()}") for n in names.split(",") if n.strip()]
        for token in _tokens(chunk):
            if re.fullmatch(r"sam2refiner(_client)?(\.\w+)+", token) and Path(token).suffix not in EXTENSIONS:
                found.append(module_problem(token))
            elif is_repo_path(token):
                found.append(None if path_exists(token) else f"{token}: no such path")
            elif in_subfolder and "/" not in token and Path(token).suffix in EXTENSIONS - {".md"}:
                here = doc.parent / token
                if re.fullmatch(r"[\w.-]+", token) and not here.exists():
                    found.append(f"{token}: no such file in {doc.parent.relative_to(ROOT)}/")
    for target in links:
        if re.match(r"[a-z]+:|#", target):
            continue
        target = target.split("#")[0]
        if not (doc.parent / target).resolve().exists():
            found.append(f"link {target}: no such file")
    return [p for p in found if p]


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_and_module_the_docs_name_exists(doc):
    assert problems(doc) == [], f"{doc.relative_to(ROOT)} names what the repository does not have"


def test_the_checker_sees_paths_and_modules():
    assert is_repo_path("service/app.py") and is_repo_path("docs/screenshots/") and is_repo_path(".ci/run")
    assert not is_repo_path("image/png") and not is_repo_path("facebook/sam2.1-hiera-tiny")
    assert not is_repo_path("/weights/sam2.1_hiera_large.pt") and not is_repo_path("https://example.org/x.py")
    assert path_exists("weights/sam2.1_hiera_large.pt") and not path_exists("service/no_such_module.py")
    assert module_problem("sam2refiner.model.build_sam2refiner") is None
    assert module_problem("sam2refiner.model.no_such_name") is not None
    assert module_problem("sam2refiner.nothing.here") is not None


def test_the_checker_sees_classes():
    assert class_problem("SAM2Refiner.predict_masks") is None and class_problem("SAM2VideoPredictor") is None
    assert class_problem("SAM2Refiner.no_such_method") is not None
    assert class_problem("NoSuchEngine") is not None and class_problem("HTTP") is None


def test_readme_stays_short():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines < README_LINES, f"README.md has {lines} lines: move reference material to docs/"


def test_every_page_is_in_the_site_navigation():
    def pages(nav) -> set[str]:
        out = set()
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            out |= pages(value) if isinstance(value, list) else {value}
        return out

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages(config["nav"]) == on_disk
