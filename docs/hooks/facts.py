"""MkDocs hook: the docs quote the code's defaults, never retype them.

A page writes `{{ pct gate.tolerance.time }}` and the built page reads the time
tolerance as a percentage: the path is looked up in `sources()` (a mapping's key, or an
attribute, segment by segment) and written by the format named first, if any (no `|`,
so that a placeholder in a table cell leaves the raw table readable). `sources()` is
the one place the docs name code objects; the tests that keep the docs' tables equal to
the code read it too. When a default moves, change its line there. A name or a format
that does not resolve fails the build, naming the page and the placeholder. GitHub
Actions' `${{ ... }}` is left as it is, and a backslash before `{{` writes it as is.

The README is the site's home page: it is published as `index.md`, its `docs/` links
made relative to the site, and a page's links to `../README.md` (which work where the
repository is browsed) lead there.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files


def sources() -> dict[str, Any]:
    """Every code object the docs quote, by the name a placeholder starts with."""
    from types import SimpleNamespace

    from visionbench import models, profiles
    from visionbench.ab import defaults as ab_defaults
    from visionbench.data import folders
    from visionbench.gate import config
    from visionbench.history import changes
    from visionbench.measure import interleave, metrics, runner, techniques, workers
    from visionbench.stats import between_process, defaults, equivalence, outcomes, paired
    from visionbench.tune import command as tune
    from visionbench.tune import search as tune_search
    from visionbench.tune import worth as tune_worth

    ab = SimpleNamespace(
        **{name: getattr(ab_defaults, name) for name in dir(ab_defaults) if name.isupper()},
        POWER=defaults.POWER,
        # the first look: the fewest blocks at which the exact test can reject at all
        FIRST_LOOK=paired.least_pairs(defaults.DEFAULTS["alpha"]),
    )
    return {
        "gate": defaults.DEFAULTS,  # [tool.visionbench.gate]'s defaults
        "ab": ab,  # the A/B gate's constants (FIRST_LOOK, MAX_BLOCKS, ROUNDS_SECONDS...)
        "profiles": profiles.PROFILES,
        "dry_run": profiles.DRY_RUN,
        "model_fields": profiles.MODEL_FIELDS,  # what --vb-model-for takes, beside `all`
        "all_techniques": profiles.ALL_TECHNIQUES,
        "equivalence": equivalence,  # CONFIDENCE of the accuracy verdicts
        "interleave": interleave,  # CONFIDENCE of the paired ratios
        "changes": changes,  # MIN_RUNS on each side of a change point
        "folders": folders,  # MAX_NAMED unreadable images
        "tune": tune,  # visionbench tune's defaults (budget, its shares, seeds, min gain)
        "tune_search": tune_search,  # PRUNE
        "tune_worth": tune_worth,  # MAX_PLAYERS
        # What the tests keep the pages' tables to (tests/test_docs_tables.py).
        "metrics": metrics.METRICS,
        "pairs_needed": paired.pairs_needed,  # blocks to prove a change
        "techniques": techniques.BY_NAME,
        "models": tuple(models.names()),
        # Files the pages name: {{ path modules.runner }}.
        "modules": {
            "runner": runner,
            "metrics": metrics,
            "profiles": profiles,
            "registry": techniques,
            "gate_config": config,
            "defaults": defaults,
            "paired": paired,
            "equivalence": equivalence,
            "outcomes": outcomes,
            "changes": changes,
            "workers": workers,
            "between_process": between_process,
        },
    }


def _path(module: Any) -> str:
    """A module's file (a package's folder) as the repository names it: src/visionbench/..."""
    parts = Path(module.__file__).parts
    at = len(parts) - 1 - parts[::-1].index("visionbench")
    if parts[-1] == "__init__.py":
        return "/".join(("src", *parts[at:-1])) + "/"
    return "/".join(("src", *parts[at:]))


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": lambda v: f"{v * 100:g}%",  # a fraction as a percentage
    "pt": lambda v: f"{v * 100:g} pt",  # an accuracy fraction in points
    "mib": lambda v: f"{v / 2**20:g} MiB",  # bytes
    "codes": lambda v: ", ".join(f"`{x}`" for x in v),  # names (or a mapping's keys) as code
    "range": lambda v: f"{min(v)}–{max(v)}",  # a sweep's smallest and largest
    "path": _path,  # a module -> src/visionbench/.../x.py
}

README_LINK = re.compile(r"\]\(docs/")  # the README's links into the docs
TO_README = re.compile(r"\]\(\.\./README\.md")  # a page's links to the README
PLACEHOLDER = re.compile(r"(?<![$\\])\{\{\s*(?:(\w+)\s+)?([A-Za-z_][\w.-]*)\s*\}\}")


class FactError(LookupError):
    """A placeholder whose path or format does not resolve."""


def resolve(path: str, roots: Mapping[str, Any]) -> Any:
    """The value at `path` ("gate.tolerance.time"): each segment a key of a mapping, or
    an attribute of anything else."""
    head, *rest = path.split(".")
    if head not in roots:
        raise FactError(f"{path!r}: no source {head!r}; known: {', '.join(roots)}")
    value = roots[head]
    for i, segment in enumerate(rest):
        where = ".".join([head, *rest[:i]])
        if isinstance(value, Mapping):
            if segment not in value:
                raise FactError(f"{path!r}: {where} has no key {segment!r}")
            value = value[segment]
        elif hasattr(value, segment):
            value = getattr(value, segment)
        else:
            raise FactError(f"{path!r}: {where} has no attribute {segment!r}")
    return value


def fill(markdown: str, roots: Callable[[], Mapping[str, Any]]) -> str:
    """`markdown` with every placeholder replaced by its value; `roots` is called only
    where there is a placeholder, so a page without one imports nothing."""

    def one(match: re.Match[str]) -> str:
        fmt, path = match.group(1), match.group(2)
        if fmt is not None and fmt not in FORMATS:
            raise FactError(
                f"{match.group(0)}: unknown format {fmt!r}; known: {', '.join(FORMATS)}"
            )
        value = resolve(path, roots())
        if isinstance(value, float) and not math.isfinite(value):
            raise FactError(f"{match.group(0)}: {value} is not a figure to print")
        return FORMATS[fmt](value) if fmt is not None else _plain(value)

    return PLACEHOLDER.sub(one, markdown).replace("\\{{", "{{")


@functools.cache
def _sources() -> dict[str, Any]:
    return sources()


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    markdown = TO_README.sub("](index.md", markdown)
    try:
        return fill(markdown, _sources)
    except FactError as exc:
        raise PluginError(f"{page.file.src_uri}: {exc}") from None


def on_files(files: Files, config: Any, **_: Any) -> Files:
    """The README, its `docs/` links made the site's, as the home page."""
    readme = Path(config.config_file_path).parent / "README.md"
    text = README_LINK.sub("](", readme.read_text(encoding="utf-8"))
    files.append(File.generated(config, "index.md", content=text))
    return files
