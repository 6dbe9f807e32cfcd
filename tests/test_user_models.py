"""The user's own model (`--vb-model NAME=MODULE:FACTORY`): loaded from a module file,
measured like the registry's models, recorded with its identity, refused with one
line naming what is wrong, and never gated against another network of the same name."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn as nn
from gate_helpers import as_run, bench, run_data, steady
from helpers import DOCS, ROOT, run_benches, run_pytest

from visionbench import cli, models, profiles, report
from visionbench.gate.config import GateConfig
from visionbench.gate.runs import compare_runs
from visionbench.measure.results import Bench, Run
from visionbench.models import user
from visionbench.models.user import ModelError
from visionbench.report.sections import models_line

NETS = '''
import torch.nn as nn

WIDTH = {width}


def build(num_classes, in_channels):
    """Takes two of the three arguments: no image_size (it ends in a global pool)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(WIDTH, num_classes),
    )


class Net(nn.Module):
    def __init__(self, num_classes, in_channels, image_size, depth=1):
        super().__init__()
        self.seen = (num_classes, in_channels, image_size)
        self.fc = nn.Linear(in_channels * image_size * image_size, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


def anything(**kwargs):
    net = Net(**kwargs)
    net.kwargs = kwargs
    return net


def needs_depth(num_classes, depth):
    return Net(num_classes, 1, 8)


def raises(num_classes):
    raise ValueError("width must be even")


def wrong_shape(num_classes, in_channels):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes + 1))


def a_tuple(num_classes, in_channels):
    class Pair(nn.Module):
        def forward(self, x):
            return x, x
    return Pair()


def not_a_module(num_classes):
    return "resnet"


SIZE = 3
'''


def write_nets(folder, width: int = 4, name: str = "nets.py"):
    path = folder / name
    path.write_text(NETS.format(width=width))
    return path


@pytest.fixture
def nets(tmp_path):
    return write_nets(tmp_path)


# -- loading and the factory contract ----------------------------------------------


def test_a_factory_gets_only_the_arguments_it_names(nets):
    model = user.load(f"mine={nets}:build")
    assert model.takes == ("num_classes", "in_channels")
    net = model(7, 3, 16)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    net = user.load(f"cls={nets}:Net")(5, 1, 8)  # a module class is a factory too
    assert net.seen == (5, 1, 8)
    net = user.load(f"kw={nets}:anything")(5, 3, 12)  # **kwargs: all three, by keyword
    assert net.kwargs == {"num_classes": 5, "in_channels": 3, "image_size": 12}


def test_a_dotted_module_imports_as_python_imports_it():
    model = user.load("tiny=examples.tiny_net:build")
    assert model.source == "examples.tiny_net:build"
    assert model(10, 1, 16)(torch.randn(2, 1, 16, 16)).shape == (2, 10)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:build", "cannot import module 'no_such_module_xyz': "
         "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
        ("{nets}:biuld", "module '{nets}' has no attribute 'biuld'; did you mean 'build'?"),
        ("{nets}:SIZE", "{nets}:SIZE is an int, not a callable factory"),
        ("{nets}:needs_depth", "{nets}:needs_depth requires 'depth', which visionbench does "
         "not pass"),
        ("{nets}", "expected NAME=MODULE:FACTORY"),
    ],
    ids=["import", "attribute", "not_callable", "extra_argument", "syntax"],
)  # fmt: skip
def test_what_cannot_be_loaded_is_named(nets, target, message):
    with pytest.raises(ModelError) as info:
        user.load(f"mine={target.format(nets=nets)}")
    assert message.format(nets=nets) in str(info.value)
    assert "\n" not in str(info.value)


def test_an_import_error_inside_the_module_is_its_own(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import torch\nimport no_such_dependency_xyz\n")
    with pytest.raises(ModelError, match=r"cannot import module .*broken.py.*no_such_dependency"):
        user.load(f"mine={path}:build")


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("raises", "raises(num_classes=10) raised ValueError: width must be even"),
        ("not_a_module", "not_a_module(num_classes=10) returned a str, not a torch.nn.Module"),
        ("wrong_shape", "output of shape (2, 11) on a sample batch of shape (2, 1, 16, 16); "
         "expected (2, 10) (batch, num_classes)"),
        ("a_tuple", "returned a tuple on a sample batch of shape (2, 1, 16, 16); expected a "
         "tensor of shape (2, 10)"),
        ("Net", "failed on a sample batch of shape (2, 1, 16, 16): RuntimeError"),
    ],
    ids=["raises", "not_a_module", "output_shape", "not_a_tensor", "forward_fails"],
)  # fmt: skip
def test_the_sample_batch_check_names_what_is_wrong(nets, factory, message):
    model = user.load(f"mine={nets}:{factory}")
    size = 16 if factory != "Net" else 8  # Net: built for 8 px, given 16 px

    def build():
        return model(10, 1, size)

    with pytest.raises(ModelError) as info:
        user.check_output(build, 10, 1, 16)
    assert message in str(info.value)


def test_the_sample_batch_check_leaves_the_random_state_alone(nets):
    model = user.load(f"mine={nets}:build")
    torch.manual_seed(3)
    before = torch.random.get_rng_state()
    user.check_output(lambda: model(10, 1, 16), 10, 1, 16)
    assert torch.equal(torch.random.get_rng_state(), before)


# -- the registry and the identity recorded -------------------------------------------


def test_a_user_model_joins_the_registry_until_removed(nets):
    model = user.load(f"mine={nets}:build")
    models.register_user(model)
    try:
        assert models.spec("mine").source == f"{nets}:build"
        net = models.build("mine", num_classes=3, in_channels=1, image_size=8)
        found = models.identity("mine", net)
        assert found == {"model_source": f"{nets}:build", "model_shapes": user.shapes_hash(net)}
        with pytest.raises(ModelError, match="the name 'mine' is taken by --vb-model"):
            models.register_user(model)
    finally:
        models.unregister("mine")
    assert "mine" not in models.names()
    models.unregister("resnet18")  # the registry's own stay
    assert "resnet18" in models.names()
    with pytest.raises(ModelError, match="the name 'resnet18' is taken by a registered model"):
        models.register_user(user.load(f"resnet18={nets}:build"))


def test_the_shapes_hash_tells_networks_apart_and_only_them():
    def net(width):
        torch.manual_seed(width)
        return nn.Sequential(nn.Conv2d(1, width, 3), nn.Flatten(), nn.Linear(width * 36, 10))

    assert user.shapes_hash(net(4)) == user.shapes_hash(net(4))
    assert user.shapes_hash(net(4)) != user.shapes_hash(net(8))
    registry = models.build("small_cnn", num_classes=10, in_channels=1, image_size=16)
    assert set(models.identity("small_cnn", registry)) == {"model_shapes"}  # no import path


# -- the profile: the sweep and the techniques' models ----------------------------------


def test_the_profile_takes_the_users_models():
    quick = profiles.get("quick")
    chosen = profiles.parse_model_for(["precision=mine", "lr_schedule=resnet9"])
    profile = profiles.with_models(quick, ["mine"], chosen)
    assert profile.model_size.models == (*quick.model_size.models, "mine")
    assert profile.model_size.models[0] == quick.model_size.models[0]  # the reference stays
    assert profile.step_techniques.precision_model == "mine"
    assert profile.schedules.model == "resnet9"
    assert profile.step_techniques.compile_model == quick.step_techniques.compile_model
    assert profiles.with_models(quick) == quick  # nothing asked: nothing changed


def test_all_stands_for_every_technique_and_a_named_one_wins():
    chosen = profiles.parse_model_for(["precision=resnet9", "all=mine"])
    assert chosen.keys() == profiles.MODEL_FIELDS.keys()
    assert chosen["precision"] == "resnet9" and chosen["compile"] == "mine"
    profile = profiles.with_models(profiles.get("quick"), (), chosen)
    for technique in profiles.MODEL_FIELDS:
        assert profiles.model_of(profile, technique) == chosen[technique]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["precison=mine"], "unknown technique 'precison'; choose from precision,"),
        (["precision"], "'precision' is not TECHNIQUE=NAME"),
        (["precision=a", "precision=b"], "precision is given twice (a and b)"),
    ],
    ids=["technique", "syntax", "twice"],
)
def test_bad_model_for_is_named(items, message):
    with pytest.raises(ValueError) as info:
        profiles.parse_model_for(items)
    assert message in str(info.value)


# -- on the command line: bad input stops before anything runs --------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:build", "--vb-model mine=no_such_module_xyz:build: cannot import "
         "module 'no_such_module_xyz': ModuleNotFoundError: No module named"),
        ("{nets}:biuld", "--vb-model mine={nets}:biuld: module '{nets}' has no attribute 'biuld'"),
        ("{nets}:raises", "--vb-model mine={nets}:raises: on mnist5k at 16 px: {nets}:raises("
         "num_classes=10) raised ValueError: width must be even"),
        ("{nets}:wrong_shape", "--vb-model mine={nets}:wrong_shape: on mnist5k at 16 px: output "
         "of shape (2, 11) on a sample batch of shape (2, 1, 16, 16); expected (2, 10)"),
    ],
    ids=["import", "attribute", "factory_raises", "output_shape"],
)  # fmt: skip
@pytest.mark.deps
def test_bad_input_is_a_usage_error_and_nothing_is_saved(tmp_path, nets, target, message):
    out, storage = tmp_path / "run.json", tmp_path / "storage"
    proc = run_pytest(
        "benches/bench_model_size.py", "-q", "--vb-profile", "quick", "--vb-device", "cpu",
        "--vb-model", f"mine={target.format(nets=nets)}", "-k", "mine",
        f"--benchmark-json={out}", f"--benchmark-storage=file://{storage}",
        "--benchmark-autosave",
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [f"ERROR: {errors[0][7:]}"]  # one line, nothing else
    assert message.format(nets=nets) in errors[0]
    assert not out.exists() and not list(storage.rglob("*.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vb-model-for", "precison=small_cnn"], "--vb-model-for: unknown technique 'precison'"),
        (["--vb-model-for", "precision=mine"], "--vb-model-for precision=mine: unknown model "
         "'mine'; registered: small_cnn"),
        (["--vb-model", "mine"], "--vb-model mine: expected NAME=MODULE:FACTORY"),
        (["--vb-model", "resnet18=examples.tiny_net:build"], "the name 'resnet18' is taken"),
    ],
    ids=["technique", "model", "syntax", "name_taken"],
)  # fmt: skip
@pytest.mark.deps
def test_bad_choices_are_usage_errors(args, message):
    proc = run_pytest("benches/bench_precision.py", "--collect-only", "-q", *args)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert message in proc.stderr


# -- measured: the sweep and a step technique, then the gate -----------------------------


def shoes(folder):
    """A user's image folder: two classes of small RGB images."""
    from PIL import Image

    for c, colour in enumerate(((200, 40, 40), (40, 40, 200))):
        (folder / f"class{c}").mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (20, 20), tuple(v + 5 * i for v in colour)).save(
                folder / f"class{c}" / f"{i}.png"
            )
    return folder


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The user's model in the model-size sweep and as precision's model, on the bundled
    digits and on an RGB image folder (in_channels 3): the saved run and the module."""
    tmp = tmp_path_factory.mktemp("user_model")
    nets = write_nets(tmp)
    folder = shoes(tmp / "shoes")
    data = run_benches(
        tmp / "run.json",
        "benches/bench_model_size.py", "benches/bench_precision.py",
        "--vb-model", f"mine={nets}:build", "--vb-model-for", "precision=mine",
        "--vb-data", f"mnist5k,imagefolder:{folder}",
        "-k", "mine or fp32",
    )  # fmt: skip
    return tmp, nets, data


FIGURES = {"samples_per_s", "peak_mem_bytes", "params", "flops", "accuracy", "train_time_s"}


def test_the_users_model_joins_model_size_and_a_step_technique(measured):
    _, nets, data = measured
    benches = {b["name"]: b["extra_info"] for b in data["benchmarks"]}
    for dataset in ("mnist5k", "imagefolder-shoes"):
        for variant in ("train_step", "inference", "fp32"):
            unit = "inference" if variant == "inference" else "train_step"
            name = f"bench_{unit}[cpu-{dataset}-{'fp32' if variant == 'fp32' else 'mine'}]"
            info = benches[name]
            assert info.keys() >= FIGURES, name
            assert info["model"] == "mine" and info["model_source"] == f"{nets}:build"
            assert info["reference"] in ("small_cnn", "fp32")
        # one network, one training: model size's step and precision's fp32 share it
        step, fp32 = (
            benches[f"bench_train_step[cpu-{dataset}-mine]"],
            benches[f"bench_train_step[cpu-{dataset}-fp32]"],
        )
        assert step["model_shapes"] == fp32["model_shapes"]
        assert step["train_time_s"] == fp32["train_time_s"]
    # grey digits and RGB images: the factory was given each one's channels and classes
    grey = benches["bench_train_step[cpu-mnist5k-mine]"]
    rgb = benches["bench_train_step[cpu-imagefolder-shoes-mine]"]
    assert grey["params"] != rgb["params"] and grey["model_shapes"] != rgb["model_shapes"]
    assert rgb["classes"] == 2 and grey["classes"] == 10


def test_the_report_names_the_users_model(measured, tmp_path, capsys):
    tmp, nets, _ = measured
    run = Run(tmp / "run.json", json.loads((tmp / "run.json").read_text()))
    text = report.summary_text(run)
    assert f"model: mine (your model, {nets}:build)" in text  # precision's one model
    path = report.write_report(run, [run], tmp_path / "report")
    assert f"Model: `mine` (your model, `{nets}:build`)" in path.read_text()


def test_two_networks_under_one_name_are_never_gated_against_each_other(
    measured, tmp_path, monkeypatch
):
    """The same name, file and factory; a wider network in the file: its figures are
    saved as another network and the gate does not compare them with the first's."""
    tmp, nets, _ = measured
    write_nets(nets.parent, width=8)  # the first run has finished with width 4
    try:
        second = run_benches(
            tmp_path / "run.json", "benches/bench_model_size.py",
            "--vb-model", f"mine={nets}:build", "--vb-data", "mnist5k",
            "-k", "mine and train_step",
        )  # fmt: skip
    finally:
        write_nets(nets.parent, width=4)
    first = json.loads((tmp / "run.json").read_text())
    step = "bench_train_step[cpu-mnist5k-mine]"
    a, b = (
        {x["name"]: x["extra_info"] for x in run["benchmarks"]}[step] for run in (first, second)
    )
    assert a["model_source"] == b["model_source"] and a["model_shapes"] != b["model_shapes"]
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        ["gate", "--baseline", str(tmp / "run.json"), "--candidate", str(tmp_path / "run.json"),
         "--allow-missing", "--summary", str(tmp_path / "gate.md")]
    )  # fmt: skip
    assert code == 0
    rows = [line.split("|") for line in (tmp_path / "gate.md").read_text().splitlines()]
    row = next(cells for cells in rows if any(step in cell for cell in cells))
    assert row[7].strip() == "new"  # the verdict column: not compared, no figure judged
    assert f"model_shapes: {a['model_shapes']!r} vs {b['model_shapes']!r}): not compared" in row[8]
    assert not [
        cells for cells in rows if any(step in c for c in cells) and cells[2].strip() != "-"
    ]


# -- the gate's rule, on saved runs ---------------------------------------------------------


def network(name, shapes=None, source=None, samples=None, **extra):
    info = {"model": name, **extra}
    if shapes is not None:
        info["model_shapes"] = shapes
    if source is not None:
        info["model_source"] = source
    return bench("mine", samples or steady(10), **info)


def test_the_gate_compares_one_network_only_with_itself():
    def verdicts(base, cand):
        rows = compare_runs(
            as_run(run_data([base])), as_run(run_data([cand]), number=2), GateConfig()
        )
        return {r.verdict for r in rows}, rows

    same = network("mine", "aaaa", "nets:build")
    assert "new" not in verdicts(same, network("mine", "aaaa", "nets:build"))[0]
    for other in (
        network("mine", "bbbb", "nets:build"),  # a layer changed
        network("mine", "aaaa", "other.nets:build"),  # another factory
        network("mine", "aaaa"),  # the registry's model of that name
        network("small_cnn", "aaaa", "nets:build"),  # another model for the technique
    ):
        found, rows = verdicts(same, other)
        assert found == {"new"} and "not compared" in rows[0].note
    # runs saved before the shapes were recorded still compare with new ones
    assert "new" not in verdicts(network("small_cnn"), network("small_cnn", "aaaa"))[0]


def test_another_networks_history_is_not_this_ones_noise():
    quiet = [network("mine", "aaaa", samples=steady(10, seed=i)) for i in range(4)]
    history = [as_run(run_data([b]), number=i + 1) for i, b in enumerate(quiet)]
    base, cand = history[-1], as_run(run_data([network("mine", "aaaa", samples=[
        x * 1.5 for x in steady(10, seed=9)])]), number=9)  # fmt: skip
    rows = compare_runs(base, cand, GateConfig(), history)
    assert next(r for r in rows if r.metric == "time").verdict == "regression"
    # the same history, but of another network under the name: nothing measured
    others = [
        as_run(run_data([network("mine", "bbbb", samples=steady(10, seed=i))]), number=i + 1)
        for i in range(3)
    ]
    rows = compare_runs(base, cand, GateConfig(), [*others, base])
    assert next(r for r in rows if r.metric == "time").verdict == "inconclusive"


def test_models_line_of_a_section():
    def b(model, source=None):
        extra = {"model": model, **({"model_source": source} if source else {})}
        return Bench("x", "x", "g", {}, extra, {})

    assert models_line([b("small_cnn"), b("small_cnn")]) == "model: `small_cnn`"
    assert models_line([b("small_cnn"), b("resnet9")]) is None
    assert models_line([b("small_cnn"), b("mine", "n:f")]) == ("your model: `mine` (`n:f`)")


def test_the_worked_example_is_in_the_docs():
    page = (DOCS / "your-model-and-data.md").read_text(encoding="utf-8")
    assert "--vb-model tiny=examples.tiny_net:build" in page
    assert (ROOT / "examples" / "tiny_net.py").is_file()
    example = textwrap.dedent(page.split("## Your own model", 1)[1])
    assert "--vb-model-for" in example and "imagefolder:" in example
