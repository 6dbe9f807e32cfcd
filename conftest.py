"""Root pytest plugin: visionbench's options, profiles and machine fingerprint.

Options (all also settable in `addopts`):
  --vb-profile {quick,standard,paper}  budgets and sweeps (default: standard with
                                       a GPU, quick without)
  --vb-dry-run                         the profile's every variant, model, size and
                                       dataset on a few images for a few steps, timed
                                       twice: checks the profile runs end to end in
                                       minutes; measures nothing (saved as a dry run)
  --vb-device {auto,cpu,cuda,all}      where to run (auto: every CUDA device, or
                                       the CPU when there is none)
  --vb-data SPEC[,SPEC...]             mnist5k, digits, gradations,
                                       imagefolder:PATH, cifar10:PATH (default:
                                       each bench's own choice)
  --vb-seeds N                         seeds behind every accuracy figure
  --vb-threads N                       torch's intra-op CPU threads
  --vb-model NAME=MODULE:FACTORY       your own model, registered under NAME for the
                                       session; it joins the model-size sweep
                                       (repeatable)
  --vb-model-for TECHNIQUE=NAME        the model a technique trains (precision,
                                       grad_zeroing, memory_format, compile,
                                       lr_schedule, resolution, data_loading, or all);
                                       repeatable
  --vb-shard i/n                       the i-th of n deterministic slices of the selection
                                       (fixtures/shards.py); with pytest-xdist (-n auto),
                                       one worker per device, each its own slice
"""

from __future__ import annotations

import pytest

from visionbench import profiles
from visionbench.core.optional import Unavailable
from visionbench.data_parallel import topology
from visionbench.measure import fingerprint

pytest_plugins = [
    "fixtures.devices",
    "fixtures.datasets",
    "fixtures.models",
    "fixtures.data_paths",
    "fixtures.data_parallel",
    "fixtures.recipes",
    "fixtures.shards",
]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "all")
PROFILE_KEY = pytest.StashKey[profiles.Profile]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("visionbench")
    group.addoption(
        "--vb-profile",
        default=None,
        metavar="NAME",
        help="budgets and sweeps: quick, standard or paper "
        "(default: standard with a GPU, quick without)",
    )
    group.addoption(
        "--vb-dry-run",
        action="store_true",
        help="run the profile's every variant, model, input size and dataset on a few "
        "images for a few steps, each unit timed twice: checks that the profile runs end "
        "to end, in minutes, and measures nothing (saved and reported as a dry run, "
        "never compared with a real run)",
    )
    group.addoption(
        "--vb-device",
        default="auto",
        metavar="DEVICE",
        help="auto (every CUDA device, else the CPU), cpu, cuda or all",
    )
    group.addoption(
        "--vb-data",
        default=None,
        metavar="SPEC",
        help="comma-separated datasets: mnist5k, digits, gradations, "
        "imagefolder:PATH, cifar10:PATH (default: each bench's own)",
    )
    group.addoption(
        "--vb-threads",
        default=None,
        type=int,
        metavar="N",
        help="torch's intra-op CPU threads (default: torch's own, one per core); on a "
        "shared CPU, 1 keeps timings far steadier when other work competes",
    )
    group.addoption(
        "--vb-seeds",
        default=None,
        type=int,
        metavar="N",
        help="seeds behind each accuracy figure (default: the profile's)",
    )
    group.addoption(
        "--vb-model",
        action="append",
        default=[],
        metavar="NAME=MODULE:FACTORY",
        help="your own model (repeatable): FACTORY from MODULE (a dotted module or a .py "
        "file), called with num_classes, in_channels and image_size (those it names), "
        "registered as NAME for the session; it joins the model-size sweep",
    )
    group.addoption(
        "--vb-model-for",
        action="append",
        default=[],
        metavar="TECHNIQUE=NAME",
        help="the model a technique trains instead of the profile's (repeatable): "
        f"{', '.join(profiles.MODEL_FIELDS)}, or all",
    )
    group.addoption(
        "--vb-shard",
        default=None,
        metavar="i/n",
        help="run the i-th of n deterministic slices of the selected benchmarks (a bench "
        "module on one device stays in one slice; balanced by this machine's saved "
        "durations, else by count); `visionbench merge` joins the slices' runs",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from fixtures import shards

    if config.pluginmanager.is_registered(shards):  # the test suite takes it out
        shards.configure(config)  # first: a worker's device and threads, before torch's
    _only_rank_zero_saves(config)
    name = config.getoption("--vb-profile") or profiles.default_profile_name()
    try:
        profile = profiles.get(name)
    except ValueError as exc:
        raise pytest.UsageError(f"--vb-profile: {exc}") from None
    if config.getoption("--vb-dry-run"):
        profile = profiles.dry_run(profile)
    config.stash[PROFILE_KEY] = profile
    device = config.getoption("--vb-device")
    if device not in DEVICE_CHOICES:
        raise pytest.UsageError(
            f"--vb-device: unknown device {device!r}; choose one of {', '.join(DEVICE_CHOICES)}"
        )
    seeds = config.getoption("--vb-seeds")
    if seeds is not None and seeds < 1:
        raise pytest.UsageError(f"--vb-seeds: must be at least 1, got {seeds}")
    threads = config.getoption("--vb-threads")
    if threads is not None:
        if threads < 1:
            raise pytest.UsageError(f"--vb-threads: must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)  # recorded in the fingerprint (`threads`)
    spec = config.getoption("--vb-data")
    if spec is not None:
        check_data(spec, config.stash[PROFILE_KEY])

    config.stash[PROFILE_KEY] = with_chosen_models(config, config.stash[PROFILE_KEY])


def with_chosen_models(config: pytest.Config, profile: profiles.Profile) -> profiles.Profile:
    """Register --vb-model's models for the session (imported and checked here; their
    output is checked on a sample batch after collection) and apply --vb-model-for."""
    texts, chosen = config.getoption("--vb-model"), config.getoption("--vb-model-for")
    if not texts and not chosen:
        return profile
    from visionbench import models
    from visionbench.models import user

    names = []
    for text in texts:
        try:
            model = user.load(text)
            models.register_user(model)
        except user.ModelError as exc:
            raise pytest.UsageError(f"--vb-model {text.strip()}: {exc}") from None
        config.add_cleanup(lambda name=model.name: models.unregister(name))
        names.append(model.name)
    try:
        model_for = profiles.parse_model_for(chosen)
    except ValueError as exc:
        raise pytest.UsageError(f"--vb-model-for: {exc}") from None
    for technique, name in model_for.items():
        try:
            models.spec(name)
        except ValueError as exc:
            raise pytest.UsageError(f"--vb-model-for {technique}={name}: {exc}") from None
    return profiles.with_models(profile, names, model_for)


def check_data(text: str, profile: profiles.Profile) -> None:
    """Parse --vb-data and read the user's own data once, before any variant runs:
    a bad spec or unreadable images stop the session with one message naming
    every bad file (the loaded split is cached, so the benches reuse it)."""
    import sys

    from visionbench.data.spec import WITH_PATH, load_split, parse_data_specs

    try:
        specs = parse_data_specs(text)
        for spec in specs:
            if spec.kind in WITH_PATH:
                print(f"visionbench: reading {spec}...", file=sys.stderr, flush=True)
                load_split(spec, profile)
    except (ValueError, FileNotFoundError) as exc:
        raise pytest.UsageError(f"--vb-data: {exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    """NVML was initialised at most once this session (energy, the driver's version);
    shut it down once, at the end."""
    from visionbench.measure.gpus import NVML

    NVML.close()


def _only_rank_zero_saves(config: pytest.Config) -> None:
    """Under torchrun every rank runs pytest; only rank 0 saves the run (before
    pytest-benchmark reads its options, hence tryfirst)."""
    if topology.torchrun_rank() not in (None, 0):
        for option in ("benchmark_autosave", "benchmark_save", "benchmark_json"):
            if hasattr(config.option, option):
                setattr(config.option, option, False if option.endswith("autosave") else None)


def profile_of(config: pytest.Config) -> profiles.Profile:
    """The profile chosen for this session."""
    return config.stash[PROFILE_KEY]


@pytest.fixture(scope="session")
def vb_profile(pytestconfig: pytest.Config) -> profiles.Profile:
    """The profile chosen with --vb-profile (budgets and sweeps)."""
    return profile_of(pytestconfig)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from visionbench.data_parallel import topology as distributed

    profile = profile_of(config)
    kinds = distributed.device_types(config.getoption("--vb-device"))
    topology = distributed.topology(kinds, profile.data_parallel.max_world_size)
    machine_info["visionbench"] = fingerprint.fingerprint(
        profile.name, topology, dry_run=profile.dry_run
    )


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Device, then data, then the bench's own sweep: `[cpu-mnist5k-resnet18]`."""
    from fixtures.datasets import parametrize_data
    from fixtures.devices import parametrize_device

    parametrize_device(metafunc)
    parametrize_data(metafunc)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from fixtures import shards

    shards.select(config, items)
    skip_single_process_benches_under_torchrun(items)
    check_user_models_before_running(config, items)


def check_user_models_before_running(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each --vb-model model classifies a sample batch of every dataset and input size it
    is about to train on, before anything runs: a usage error naming it otherwise."""
    if not config.getoption("--vb-model"):
        return
    from fixtures.models import check_user_models

    error = check_user_models(config, profile_of(config), items)
    if error is not None:
        config.stash[STOPPED_KEY] = True
        raise pytest.UsageError(error)


STOPPED_KEY = pytest.StashKey[bool]()  # a usage error stopped the session after collection


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session):
    """After a usage error nothing ran, so pytest-benchmark saves nothing; its warning
    that it saves nothing would only bury the one line that says why."""
    if not session.config.stash.get(STOPPED_KEY, False):
        return (yield)
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Not saving anything")
        return (yield)


def skip_single_process_benches_under_torchrun(items: list[pytest.Item]) -> None:
    """Under torchrun every rank runs pytest: only the data-parallel bench is meant
    for that; the single-process benches are skipped with the reason."""
    if not topology.under_torchrun():
        return
    skip = pytest.mark.skip(reason="a single-process bench: run it without torchrun")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()) and (
            item.path.name != "bench_data_parallel.py"
        ):
            item.add_marker(skip)


FAILED_KEY = pytest.StashKey[list]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A bench that fails (a CUDA out-of-memory, a broken image, a bug) is recorded
    with its error in the saved run, so the gate reports it as failed, by name. One
    that needs torchvision where it does not import (`core.optional`) is skipped, with why."""
    report = yield
    if (
        report.when in ("setup", "call")
        and call.excinfo is not None
        and (call.excinfo.errisinstance(Unavailable))
    ):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {call.excinfo.value}")
        return report
    if (
        report.when in ("setup", "call")
        and report.failed
        and "benchmark" in getattr(item, "fixturenames", ())
    ):
        marker = item.get_closest_marker("benchmark")
        group = marker.kwargs.get("group") if marker is not None else None
        error = call.excinfo.exconly() if call.excinfo is not None else "failed"
        item.config.stash.setdefault(FAILED_KEY, []).append(
            {"fullname": item.nodeid, "name": item.name, "group": group,
             "extra_info": {"error": error[:500]}}
        )  # fmt: skip
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Failed benches go beside pytest-benchmark's own list (which drops them), under
    `visionbench_failed`; visionbench's results reader shows them as failed. Every paired
    ratio's interval takes in the between-process shift pooled over the run's ratios."""
    from visionbench.measure.interleave import widen_run

    widen_run(output_json.get("benchmarks") or ())
    failed = config.stash.get(FAILED_KEY, [])
    if failed:
        output_json["visionbench_failed"] = failed


def pytest_report_header(config: pytest.Config) -> str:
    profile = profile_of(config)
    return f"visionbench: profile {profile.name} ({profile.description})"
