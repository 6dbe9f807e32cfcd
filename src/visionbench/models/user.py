"""The user's own model: `--vb-model NAME=MODULE:FACTORY`, checked before anything runs.

The factory contract (the registry's own factories follow it too):

    FACTORY(num_classes=..., in_channels=..., image_size=...) -> torch.nn.Module

visionbench calls it by keyword with the dataset's number of classes, its
channels (1 grey, 3 RGB) and the input side in pixels, and passes only the
arguments the factory's signature names (all three to one taking `**kwargs`),
so `build(num_classes)` or a module class `MyNet(num_classes, in_channels)`
are factories too; any other argument needs a default. The module it returns
is trained with the profile's recipe and must map a batch of shape
(batch, in_channels, image_size, image_size) to logits (batch, num_classes),
no softmax (the loss applies it).

MODULE is a dotted module name, imported as Python imports it (the current
folder is on the path under `python -m pytest`, as under `nox -s bench`), or a
path to a `.py` file. Every failure raises `ModelError` with one line that
names the module, the attribute or the shape at fault.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

ARGUMENTS = ("num_classes", "in_channels", "image_size")  # what a factory may take
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # safe in a pytest id and a file name
SYNTAX = "NAME=MODULE:FACTORY (e.g. mynet=mypkg.nets:build or mynet=path/to/nets.py:build)"
SAMPLE_BATCH = 2  # images in the sample batch every user model must classify


class ModelError(ValueError):
    """A user model that cannot be used; the message names the module, attribute or shape."""


@dataclass(frozen=True)
class UserModel:
    """A factory loaded from the user's code, called with the arguments it names."""

    name: str  # the name it is registered under, as in test ids and reports
    source: str  # MODULE:FACTORY as given on the command line (recorded with each figure)
    factory: Callable[..., Any]
    takes: tuple[str, ...]  # the ARGUMENTS it is called with

    def __call__(
        self, num_classes: int, in_channels: int, image_size: int, stem_size: int | None = None
    ) -> nn.Module:
        """The registry's calling convention: positional (num_classes, in_channels,
        image_size, stem_size); a user's model takes no stem size (it is its own network
        at every input size, as the factory builds it)."""
        given = {"num_classes": num_classes, "in_channels": in_channels, "image_size": image_size}
        call = ", ".join(f"{k}={given[k]}" for k in self.takes)
        try:
            model = self.factory(**{k: given[k] for k in self.takes})
        except Exception as exc:
            raise ModelError(f"{self.source}({call}) raised {_one_line(exc)}") from exc
        if not isinstance(model, nn.Module):
            raise ModelError(f"{self.source}({call}) returned {_a(model)}, not a torch.nn.Module")
        return model


def parse(text: str) -> tuple[str, str, str]:
    """`NAME=MODULE:FACTORY` -> (name, module, attribute); ModelError when malformed."""
    name, eq, target = text.strip().partition("=")
    module, colon, attribute = target.strip().rpartition(":")
    name, module, attribute = name.strip(), module.strip(), attribute.strip()
    if not eq or not colon or not name or not module or not attribute:
        raise ModelError(f"expected {SYNTAX}")
    if not NAME.match(name):
        raise ModelError(f"the name {name!r} may hold only letters, digits, '_', '.' and '-'")
    return name, module, attribute


def load(text: str) -> UserModel:
    """Import MODULE, take FACTORY from it and check that it can be called as a factory."""
    name, module_name, attribute = parse(text)
    source = f"{module_name}:{attribute}"
    module = _import(module_name)
    factory: Any = module
    for i, part in enumerate(attribute.split(".")):  # FACTORY may be dotted: Class.build
        where = ".".join([module_name, *attribute.split(".")[:i]])
        if not hasattr(factory, part):
            close = difflib.get_close_matches(part, [a for a in dir(factory) if a[:1] != "_"], 1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelError(f"module {where!r} has no attribute {part!r}{hint}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise ModelError(f"{source} is {_a(factory)}, not a callable factory")
    return UserModel(name, source, factory, _arguments(source, factory))


def _import(module_name: str) -> Any:
    """A dotted module, or a `.py` file by its path; its own error, on one line, if it fails."""
    try:
        if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
            path = Path(module_name).expanduser().resolve()
            if not path.is_file():
                raise ModelError(f"cannot import module {module_name!r}: {path} does not exist")
            unique = "visionbench_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
            if unique in sys.modules:
                return sys.modules[unique]
            spec = importlib.util.spec_from_file_location(unique, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module  # dataclasses and pickling look modules up here
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[unique]
                raise
            return module
        return importlib.import_module(module_name)
    except ModelError:
        raise
    except Exception as exc:  # the user's code: any error it raises while importing
        raise ModelError(f"cannot import module {module_name!r}: {_one_line(exc)}") from exc


def _arguments(source: str, factory: Callable[..., Any]) -> tuple[str, ...]:
    """Which of ARGUMENTS the factory takes; ModelError if it requires anything else."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: pass everything
        return ARGUMENTS
    params = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return ARGUMENTS
    takes = tuple(
        a
        for a in ARGUMENTS
        if a in signature.parameters
        and signature.parameters[a].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                             inspect.Parameter.KEYWORD_ONLY)
    )  # fmt: skip
    required = [
        p.name
        for p in params
        if p.default is p.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in takes
    ]
    if required:
        raise ModelError(
            f"{source} requires {', '.join(map(repr, required))}, which visionbench "
            f"does not pass; it passes {', '.join(ARGUMENTS)} (by keyword, those the factory "
            "names): give the others defaults"
        )
    return takes


def check_output(
    build: Callable[[], nn.Module], num_classes: int, in_channels: int, image_size: int
) -> None:
    """Build the model and classify a sample batch (random images, eval mode, no autograd):
    ModelError unless the output is a tensor of shape (batch, num_classes)."""
    with torch.random.fork_rng(devices=[]):  # leave the session's random state alone
        torch.manual_seed(0)
        model = build()
        shape = (SAMPLE_BATCH, in_channels, image_size, image_size)
        try:
            with torch.no_grad():
                out = model.eval()(torch.randn(shape))
        except Exception as exc:
            raise ModelError(
                f"failed on a sample batch of shape {shape}: {_one_line(exc)}"
            ) from exc
    want = (SAMPLE_BATCH, num_classes)
    if not isinstance(out, torch.Tensor):
        raise ModelError(
            f"returned {_a(out)} on a sample batch of shape {shape}; "
            f"expected a tensor of shape {want} (batch, num_classes)"
        )
    if tuple(out.shape) != want:
        raise ModelError(
            f"output of shape {tuple(out.shape)} on a sample batch of shape {shape}; "
            f"expected {want} (batch, num_classes)"
        )


def shapes_hash(model: nn.Module) -> str:
    """A short hash of the model's parameter shapes in order: two different networks
    under one name (a layer added, a width changed) hash differently."""
    shapes = ";".join(
        "?" if isinstance(p, nn.parameter.UninitializedParameter) else "x".join(map(str, p.shape))
        for p in model.parameters()
    )  # a lazy layer's shape is known after its first forward pass
    return hashlib.sha256(shapes.encode()).hexdigest()[:16]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _a(value: Any) -> str:
    kind = type(value).__name__
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"
