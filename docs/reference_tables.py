"""Writes the docs' reference tables that are facts of the code: every setting and every metric.

    python docs/reference_tables.py           # rewrite the generated blocks in docs/*.md
    python docs/reference_tables.py --check   # exit 1 if a committed block differs (tests/docs does the same)

A generated block sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` in a page; the text
around it is written by hand. Only the rows come from the code, so a setting or metric added, renamed or given a
new default shows up here the next time this script runs, and a test fails until it has.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
MiB = 1 << 20


def _default(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, int) and not isinstance(value, bool) and value >= MiB and value % MiB == 0:
        return f"{value} ({value // MiB} MiB)"
    return str(value)


def settings_table() -> str:
    """Every field of the service's Settings: its environment variable, default and description."""
    from sam2refiner.service.core.settings import Settings

    prefix = Settings.model_config["env_prefix"]
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{prefix}{name.upper()}` | `{_default(field.default)}` | {field.description} |")
    return "\n".join(rows)


def metrics_table() -> str:
    """Every Prometheus metric the service defines: the name a scrape shows, type, labels, help text."""
    from prometheus_client.metrics import MetricWrapperBase

    import sam2refiner.service.core.metrics as metrics

    rows = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        (family,) = metric.describe()
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = ", ".join(metric._labelnames)  # prometheus-client keeps label names only there
        rows.append(f"| `{name}` | {family.type} | {labels} | {family.documentation} |")
    return "\n".join(rows)


# page -> block name -> the function that writes the block
BLOCKS = {
    "settings.md": {"settings": settings_table},
    "metrics.md": {"metrics": metrics_table},
}


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated:{name} -->\n)(.*?\n)?(<!-- /generated:{name} -->)", re.S)


def rendered(page: str) -> str:
    """The page's text with its generated blocks as the code makes them now."""
    text = (DOCS / page).read_text()
    for name, make in BLOCKS[page].items():
        pattern = _block(name)
        if not pattern.search(text):
            raise ValueError(f"docs/{page} has no generated block {name!r}")
        table = make()
        text = pattern.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(3), text)
    return text


def main(argv: list[str]) -> int:
    stale = []
    for page in BLOCKS:
        new = rendered(page)
        if new != (DOCS / page).read_text():
            stale.append(page)
            if "--check" not in argv:
                (DOCS / page).write_text(new)
    if stale and "--check" in argv:
        print(f"out of date: {', '.join(stale)}; run python docs/reference_tables.py", file=sys.stderr)
        return 1
    for page in stale:
        print(f"rewrote docs/{page}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
