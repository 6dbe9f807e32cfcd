"""Is this runner ready to benchmark? `visionbench ci ready`, and the first step of
`ci pr` and `ci main`.

It asks a fresh interpreter (the job's own, `sys.executable`, so that the job's process
never holds a CUDA context while the benches run) whether every distribution
pyproject.toml requires is installed at a version it accepts, which torch it is, and,
for `--device cuda`, whether CUDA works: a CPU-only torch build, no visible device
(CUDA_VISIBLE_DEVICES, which torch honours, may hide them all) or a device whose first
tensor operation fails (a driver that does not fit the CUDA build) each fail the job
with the reason, never a quiet fall back to the CPU. It names the GPUs the job sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from visionbench.ci.context import CiError

#: The probe, run by the job's interpreter: argv[1] the device, argv[2] pyproject.toml.
PROBE = r"""
import json, os, sys
device, pyproject = sys.argv[1], sys.argv[2]
out = {"python": sys.version.split()[0], "executable": sys.executable, "problems": []}
try:
    import tomllib
except ImportError:
    import tomli as tomllib
from importlib import metadata
from packaging.requirements import Requirement
with open(pyproject, "rb") as fh:
    wanted = tomllib.load(fh)["project"]["dependencies"]
for text in wanted:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate():
        continue
    try:
        found = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        out["problems"].append(f"{req.name} is not installed (pyproject.toml wants {text})")
        continue
    if not req.specifier.contains(found, prereleases=True):
        out["problems"].append(f"{req.name} {found} is installed; pyproject.toml wants {text}")
out["visible"] = os.environ.get("CUDA_VISIBLE_DEVICES")
if device != "cuda":  # the version is enough: no torch import (seconds) for a CPU job
    try:
        out["torch"] = metadata.version("torch")
    except metadata.PackageNotFoundError:
        pass
    print(json.dumps(out)); sys.exit(0)
try:
    import torch
except Exception as exc:
    out["problems"].append(f"torch cannot be imported: {exc}")
    print(json.dumps(out)); sys.exit(0)
out["torch"], out["cuda_build"] = torch.__version__, torch.version.cuda
if torch.version.cuda is None:
    out["cuda_error"] = f"torch {torch.__version__} is a CPU-only build"
elif not torch.cuda.is_available():
    out["cuda_error"] = "torch.cuda.is_available() is False"
else:
    try:
        n = torch.cuda.device_count()
        out["gpus"] = [torch.cuda.get_device_name(i) for i in range(n)]
        for i in range(n):
            x = torch.ones(8, device=f"cuda:{i}")
            assert float((x + 1).sum()) == 16.0
        torch.cuda.synchronize()
    except Exception as exc:
        out["cuda_error"] = f"a tensor operation on the GPU failed: {exc}"
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Readiness:
    python: str
    torch: str | None
    cuda_build: str | None
    gpus: tuple[str, ...]
    visible: str | None  # CUDA_VISIBLE_DEVICES as the job has it

    def line(self) -> str:
        """The runner in one line, for the log and the summary."""
        where = f"python {self.python}, torch {self.torch}"
        if self.cuda_build:
            where += f" (CUDA {self.cuda_build})"
        if self.gpus:
            names = ", ".join(self.gpus)
            where += f"; {len(self.gpus)} GPU(s) visible: {names}"
        if self.visible is not None:
            where += f" (CUDA_VISIBLE_DEVICES={self.visible!r})"
        return where


def check(device: str, root: Path = Path("."), python: str = sys.executable) -> Readiness:
    """The runner as the job's interpreter sees it; CiError naming every problem."""
    pyproject = Path(root) / "pyproject.toml"
    if not pyproject.is_file():
        raise CiError(f"no pyproject.toml in {Path(root).resolve()}: run from the checkout")
    done = subprocess.run(
        [python, "-c", PROBE, device, str(pyproject)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise CiError(
            f"the readiness probe failed under {python} (exit {done.returncode}): "
            f"{done.stderr.strip()[-2000:]}"
        ) from None
    problems = list(found["problems"])
    if "cuda_error" in found:
        hidden = found.get("visible")
        why = found["cuda_error"]
        if hidden is not None:
            why += f" (CUDA_VISIBLE_DEVICES={hidden!r} chooses the GPUs this job sees)"
        problems.append(f"CUDA is not usable: {why}; --device cuda never falls back to the CPU")
    if problems:
        raise CiError(
            f"this runner is not ready ({found['executable']}):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return Readiness(
        python=found["python"],
        torch=found.get("torch"),
        cuda_build=found.get("cuda_build"),
        gpus=tuple(found.get("gpus", ())),
        visible=found.get("visible"),
    )
