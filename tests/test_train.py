"""The training loop: each switch changes what it claims; a real run learns."""

import pytest
import torch
import torch.nn as nn
from helpers import needs_cuda

from visionbench import models
from visionbench.data import SplitData, load_digits, split
from visionbench.training.train import (
    Batches,
    TrainConfig,
    Trainer,
    evaluate,
    evaluation_batches,
    first_reached,
    fit,
    fitting,
    fp32_precision,
    planned_steps,
    recalibrate_bn,
    tf32_unsupported,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits() -> SplitData:
    train, test = split(load_digits(), 0.2, seed=0)
    return SplitData("digits", train, test)


def small_trainer(cfg: TrainConfig, digits: SplitData, name="small_cnn") -> Trainer:
    torch.manual_seed(cfg.seed)
    model = models.build(name, num_classes=10, in_channels=1, image_size=8)
    return Trainer(model, cfg, CPU, planned_steps(cfg, len(digits.train)))


def batches(digits, cfg, train=True):
    mean, std = digits.stats()
    part = digits.train if train else digits.test
    return Batches(part, cfg.batch_size, CPU, mean=mean, std=std, shuffle=train, seed=cfg.seed)


@pytest.mark.parametrize(
    ("field", "value"),
    [("optimizer", "rmsprop"), ("zero_grad", "zeros"), ("schedule", "linear"), ("amp", "fp8")],
)
def test_bad_switch_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}={value!r}"):
        TrainConfig(**{field: value})


def test_batches_cover_every_sample_once_per_epoch(digits):
    b = Batches(digits.train, 100, CPU, seed=3)
    labels0 = torch.cat([y for _, y in b.epoch(0)])
    labels1 = torch.cat([y for _, y in b.epoch(1)])
    assert len(labels0) == len(digits.train)
    assert sorted(labels0.tolist()) == sorted(digits.train.labels.tolist())
    assert not torch.equal(labels0, labels1)  # reshuffled each epoch
    again = torch.cat([y for _, y in Batches(digits.train, 100, CPU, seed=3).epoch(0)])
    assert torch.equal(labels0, again)  # and reproducibly


def test_batches_normalise_to_zero_mean_unit_std(digits):
    x = torch.cat([x for x, _ in Batches(digits.train, 500, CPU, shuffle=False)])
    assert abs(float(x.mean())) < 1e-3
    assert abs(float(x.std()) - 1) < 1e-2


def test_a_real_run_learns_digits(digits):
    cfg = TrainConfig(epochs=3, batch_size=32, lr=3e-3, schedule="onecycle")
    trainer = small_trainer(cfg, digits)
    result = fit(
        trainer,
        batches(digits, cfg),
        batches(digits, cfg, train=False),
        train_eval=batches(digits, cfg, train=False),  # the test images stand in: same answer
    )
    assert result.accuracy > 0.9
    assert result.train_accuracy == result.accuracy  # evaluated on the images it was given
    assert result.epochs_run == 3 and len(result.history) == 3
    epoch, seconds = first_reached(result.history, 0.5)
    assert 1 <= epoch <= 3 and 0 < seconds <= result.train_time_s
    assert not result.diverged


def test_fitting_pauses_after_each_epoch_and_goes_on(digits):
    cfg = TrainConfig(epochs=3, batch_size=64)
    run = fitting(small_trainer(cfg, digits), batches(digits, cfg), batches(digits, cfg, False))
    first = next(run)
    assert first.epochs_run == 1 and first.steps == 23 and len(first.history) == 1
    rest = list(run)
    assert [r.epochs_run for r in rest] == [3, 3] and rest[-1] is first  # one result, updated
    assert first.steps == 3 * 23


def test_max_steps_stops_early(digits):
    cfg = TrainConfig(epochs=5, batch_size=32, max_steps=7)
    result = fit(small_trainer(cfg, digits), batches(digits, cfg), batches(digits, cfg, False))
    assert result.steps == 7 and result.epochs_run == 1


def test_a_diverging_run_is_recorded_not_raised(digits):
    cfg = TrainConfig(optimizer="sgd", lr=1e12, epochs=3, batch_size=64)
    result = fit(small_trainer(cfg, digits), batches(digits, cfg), batches(digits, cfg, False))
    assert result.diverged
    assert result.epochs_run < 3 or not result.history


@pytest.mark.parametrize(
    ("mode", "expect_none"), [("set_to_none", True), ("assign_none", True), ("zero", False)]
)
def test_zero_grad_modes(digits, mode, expect_none):
    cfg = TrainConfig(zero_grad=mode)
    trainer = small_trainer(cfg, digits)
    x, y = next(iter(batches(digits, cfg)))
    trainer.step(x, y)
    assert all(p.grad is not None for p in trainer.model.parameters())
    trainer.zero_grad()
    grads = [p.grad for p in trainer.model.parameters()]
    if expect_none:
        assert all(g is None for g in grads)
    else:
        assert all(g is not None and not g.any() for g in grads)


def test_bf16_autocast_is_visible_in_the_forward_pass(digits):
    cfg = TrainConfig(amp="bf16")
    trainer = small_trainer(cfg, digits)
    seen = []
    trainer.model.features[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, y = next(iter(batches(digits, cfg)))
    loss = trainer.step(x, y)
    assert seen == [torch.bfloat16]
    assert torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights


def test_fp16_needs_cuda():
    model = nn.Linear(2, 2)
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal only applies without it")
    with pytest.raises(ValueError, match="fp16 autocast with GradScaler needs a CUDA device"):
        Trainer(model, TrainConfig(amp="fp16"), CPU)


@needs_cuda
def test_fp16_uses_a_grad_scaler_on_cuda(digits):
    cfg = TrainConfig(amp="fp16")
    torch.manual_seed(0)
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    trainer = Trainer(model, cfg, torch.device("cuda"))
    assert trainer.scaler.is_enabled()
    x, y = next(iter(batches(digits, cfg)))
    assert torch.isfinite(trainer.step(x, y))


def test_one_cycle_rises_then_falls(digits):
    cfg = TrainConfig(schedule="onecycle", lr=0.01, epochs=2, batch_size=64)
    trainer = small_trainer(cfg, digits)
    lrs = []
    for x, y in batches(digits, cfg).epoch(0):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.step(x, y)
    for x, y in batches(digits, cfg).epoch(1):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.step(x, y)
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert 0 < peak < len(lrs) - 1
    assert lrs[0] < lrs[peak] and lrs[-1] < lrs[0]
    assert abs(lrs[peak] - 0.01) < 1e-3


def test_constant_and_cosine_schedules(digits):
    for schedule, check in (
        ("constant", lambda a: len(set(a)) == 1),
        ("cosine", lambda a: a == sorted(a, reverse=True) and a[-1] < a[0]),
    ):
        cfg = TrainConfig(schedule=schedule, lr=0.01, epochs=1)
        trainer = small_trainer(cfg, digits)
        lrs = []
        for x, y in batches(digits, cfg):
            lrs.append(trainer.optimizer.param_groups[0]["lr"])
            trainer.step(x, y)
        assert check(lrs), schedule


def test_channels_last_really_is_channels_last(digits):
    cfg = TrainConfig(channels_last=True)
    trainer = small_trainer(cfg, digits)
    conv = trainer.model.features[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    x, _ = next(iter(batches(digits, cfg)))
    assert trainer.prepare(x).is_contiguous(memory_format=torch.channels_last)


def test_bn_recalibration_replaces_running_statistics(digits):
    torch.manual_seed(0)
    model = models.build("resnet9", num_classes=10, in_channels=1, image_size=8)
    conv, bn = model.net[0][0], model.net[0][1]
    bn.running_mean.fill_(123.0)  # stale statistics, as after too few steps
    data = list(batches(digits, TrainConfig(batch_size=50)))[:4]
    recalibrate_bn(model, iter(data), count=3)
    with torch.no_grad():
        outputs = torch.cat([conv(x) for x, _ in data[:3]])
    expected = outputs.mean(dim=(0, 2, 3))
    assert torch.allclose(bn.running_mean, expected, atol=1e-4)
    assert bn.momentum == 0.1  # update_bn restores the momentum it borrowed


def test_fit_recalibrates_when_asked(digits, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "visionbench.training.train.recalibrate_bn",
        lambda model, batches, count: calls.append(count),
    )
    cfg = TrainConfig(epochs=2, bn_recalibration_batches=5, max_steps=100)
    fit(small_trainer(cfg, digits), batches(digits, cfg), batches(digits, cfg, False))
    assert calls == [5, 5]


def test_evaluate_counts_correct_predictions():
    class Always:  # predicts class 1 for every image
        def predict(self, x):
            return torch.tensor([[0.0, 1.0, 0.0]]).expand(len(x), 3)

    labels = [torch.tensor([1, 0, 1]), torch.tensor([2, 1, 1, 1, 0])]
    batches_ = [(torch.zeros(len(y), 1, 2, 2), y) for y in labels]
    assert evaluate(Always(), batches_) == 5 / 8


def test_an_evaluation_reads_the_first_eval_images_in_stored_order_or_all(digits):
    mean, std = digits.stats()
    test = digits.test

    def labels(cfg):
        return torch.cat([y for _, y in evaluation_batches(test, cfg, CPU, mean, std)])

    assert torch.equal(labels(TrainConfig()), test.labels)
    assert torch.equal(labels(TrainConfig(eval_images=7)), test.labels[:7])
    assert torch.equal(labels(TrainConfig(eval_images=10**6)), test.labels)
    with pytest.raises(ValueError, match="eval_images=0"):
        TrainConfig(eval_images=0)


def test_tf32_is_refused_off_cuda():
    assert tf32_unsupported(CPU, False) is None
    assert "CUDA" in tf32_unsupported(CPU, True)
    with pytest.raises(ValueError, match="TF32 is a CUDA tensor-core mode"):
        Trainer(nn.Linear(2, 2), TrainConfig(tf32=True), CPU)


@needs_cuda
@pytest.mark.parametrize("tf32", [False, True])
def test_fp32_precision_sets_tf32_for_the_block_and_restores(tf32):
    cuda = torch.device("cuda")
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    seen = []
    with fp32_precision(cuda, tf32):
        seen = [torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32]
    assert seen == [tf32, tf32]
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
