"""What a side's Python is: run by that interpreter, it prints one JSON object.

`python probe.py SRC MODULE...` (this file by path, in the side's variables; SRC:
the coordinator's src, whose fingerprint module it reads) says: the Python's
version, which of the MODULEs fail to import and why, every installed
distribution's version, and the machine fingerprint's fields as this
interpreter's torch sees them (`visionbench.measure.fingerprint`). `ab.sides`
runs it before anything else starts and refuses (exit 2) an interpreter that is
not Python or lacks what no bench runs without. At module level the standard
library only: it must run, and say so, in an environment that lacks the rest.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys


def fingerprint(src: str) -> dict[str, object]:
    sys.path.insert(0, src)
    try:
        from visionbench.measure import fingerprint as fp

        return fp.fingerprint("ab")
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def main(src: str, modules: list[str]) -> None:
    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
    packages = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name.lower().replace("_", "-")] = dist.version
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "failed": failed,
                "packages": packages,
                "fingerprint": {} if "torch" in failed else fingerprint(src),
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
