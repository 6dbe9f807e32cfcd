"""Files written whole or not at all: an interrupted write (Ctrl-C, a full disk, a killed
job) leaves the previous file as it was, never half of a new one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """`text` in `path`, whole or not at all: written beside it, then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """`data` as indented JSON in `path`, whole or not at all."""
    write_text_atomic(path, json.dumps(data, indent=2))
