"""torchvision, imported where it is used: an environment may lack it.

torchvision's wheels are built for one torch release each; beside another (an older
torch in a virtualenv that `visionbench ab --baseline-python` puts on one side) it
fails to import ("operator torchvision::nms does not exist"). The seed CNNs, batched
augmentation and the precision bench need none of it, so the modules that use it
import it when they need it, through `torchvision()`: where it does not import, that
raises `Unavailable`, which the root conftest turns into the bench's skip, with why.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class Unavailable(ImportError):
    """torchvision does not import in this environment: a bench needing it is skipped."""


def torchvision(module: str = "torchvision") -> ModuleType:
    """torchvision (or its `module`, e.g. "torchvision.transforms.v2"), imported now;
    Unavailable, saying why, where it does not import."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # absent, or built for another torch ("operator ... does not exist")
        import torch

        raise Unavailable(
            f"needs torchvision, which does not import beside torch {torch.__version__} in "
            f"this environment ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
