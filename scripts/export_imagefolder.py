"""Write a bundled dataset as an image folder, to measure a command on "your own data"
at the bundled data's size (`--vb-data imagefolder:PATH`, `visionbench tune --data ...`).

    python scripts/export_imagefolder.py mnist5k /tmp/mnist5k-folder

One subfolder per class, every image a PNG (`data.formats.write_imagefolder`: atomic,
an existing folder replaced only by a complete one). No train/ and test/ subfolders: the
folder is split as any unsplit folder is (the profile's seeded, stratified split).
Exit 2 on an unknown dataset name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from visionbench.data.bundled import load_digits, load_mnist5k
from visionbench.data.formats import write_imagefolder

BUNDLED = {"mnist5k": load_mnist5k, "digits": load_digits}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in BUNDLED:
        print(f"usage: export_imagefolder.py {{{','.join(BUNDLED)}}} FOLDER", file=sys.stderr)
        return 2
    data = BUNDLED[argv[0]]()
    root = write_imagefolder(data, Path(argv[1]))
    print(f"wrote {len(data)} images of {len(data.classes)} classes under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
