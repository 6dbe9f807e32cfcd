"""Which GPUs are this job's, told without a GPU: torch's device properties matched to
NVML's devices (the energy meter), CUDA_VISIBLE_DEVICES read as CUDA reads it (the A/B
gate's GPU records and --lock-clocks, the zygote's list), over faked machines: an H100,
an A100, a V100, a T4, and two runners sharing one eight-GPU machine."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from fake_nvml import A100, EIGHT_H100, H100, T4, V100, FakeNvml, machine

from visionbench.ab import gpu as gate_gpu
from visionbench.ab import zygote
from visionbench.measure import gpus

BY_BUS = sorted(EIGHT_H100, key=lambda g: g.bus)  # CUDA's PCI_BUS_ID order


def nvml(fakes) -> list[gpus.Gpu]:
    return gpus.nvml_gpus(FakeNvml(fakes))


def props(bus=None, uuid=None, **more):
    """torch's _CudaDeviceProperties as a torch release reports them (fields it lacks
    are absent)."""
    fields = dict(more)
    if bus is not None:
        fields.update(pci_domain_id=0, pci_bus_id=bus, pci_device_id=0)
    if uuid is not None:
        fields["uuid"] = uuid
    return SimpleNamespace(**fields)


# -- a process that has started CUDA: torch's properties --------------------------------------


def test_torch_properties_name_the_gpu_by_bus_and_uuid():
    uuid = EIGHT_H100[3].uuid.removeprefix("GPU-")  # torch's uuid has no prefix
    assert gpus.identity(props(bus=0x9A, uuid=uuid)) == ((0, 0x9A, 0), f"GPU-{uuid}")
    assert gpus.identity(props(uuid=uuid)) == (None, f"GPU-{uuid}")  # a torch without pci_*
    assert gpus.identity(props()) == (None, None)


def test_the_nvml_gpu_is_found_by_bus_then_by_uuid_never_by_index():
    found = nvml(EIGHT_H100)
    # CUDA_VISIBLE_DEVICES=5 makes this GPU torch's cuda:0; NVML calls it otherwise
    target = BY_BUS[5]
    by_bus = gpus.match(found, (0, target.bus, 0))
    assert by_bus is not None and by_bus.uuid == target.uuid and by_bus.index != 0
    by_uuid = gpus.match(found, None, target.uuid.upper())
    assert by_uuid == by_bus
    assert gpus.match(found, (1, target.bus, 0)) is None  # another PCI domain
    assert gpus.match(found) is None


@pytest.mark.parametrize("name", [H100, A100, V100, T4])
def test_nvml_handle_of_a_torch_device_on_every_model(name):
    fake = FakeNvml(machine(name, [0x3B]))
    session = gpus.Nvml(fake)
    assert session.handle("cuda:0", props(bus=0x3B)) == "gpu0"
    assert session.handle("cuda:0", props(uuid=fake.gpus[0].uuid[4:])) == "gpu0"
    assert session.handle("cuda:0", props()) is None  # nothing to match by: no reading
    assert session.gpu("cuda:0", props(bus=0x3B)).name == name
    assert session.driver_version() == "550.54.15"
    session.close()
    assert fake.inits == 1 and fake.shutdowns == 1


def test_without_nvml_there_is_no_handle_and_no_error():
    class Missing(FakeNvml):
        def nvmlInit(self):
            raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    session = gpus.Nvml(Missing([]))
    assert session.handle("cuda:0", props(bus=0x3B)) is None
    assert session.driver_version() is None
    session.close()


def test_a_torch_that_cannot_answer_gives_no_handle_and_no_error():
    class Broken:
        @property
        def pci_bus_id(self):
            raise RuntimeError("CUDA driver error")

    session = gpus.Nvml(FakeNvml(machine(H100, [0x3B])))
    assert session.handle("cuda:0", Broken()) is None


# -- a process that must not start CUDA: CUDA_VISIBLE_DEVICES --------------------------------


def buses(job: gpus.JobGpus) -> list[int]:
    return sorted(g.bus_id[1] for g in job.gpus)


def test_two_runners_on_one_eight_gpu_machine_get_disjoint_gpus():
    found = nvml(EIGHT_H100)
    first = gpus.job_gpus(found, "0,1", "PCI_BUS_ID")
    second = gpus.job_gpus(found, "6", None)  # default order: one model, so PCI order
    assert buses(first) == [BY_BUS[0].bus, BY_BUS[1].bus]
    assert buses(second) == [BY_BUS[6].bus]
    assert not {g.index for g in first.gpus} & {g.index for g in second.gpus}
    # NVML's own indices are not CUDA's: NVML lists this machine in reverse PCI order
    assert [g.index for g in second.gpus] == [1]


def test_every_gpu_without_cuda_visible_devices_and_none_when_empty():
    found = nvml(EIGHT_H100)
    assert len(gpus.job_gpus(found, None, None).gpus) == 8
    assert gpus.job_gpus(found, "", None) == gpus.JobGpus()
    assert gpus.job_gpus(found, "-1", None) == gpus.JobGpus()


def test_cuda_visible_devices_is_read_as_cuda_reads_it():
    found = nvml(EIGHT_H100)
    pci = "PCI_BUS_ID"
    assert buses(gpus.job_gpus(found, " 2, 3", pci)) == [BY_BUS[2].bus, BY_BUS[3].bus]
    assert buses(gpus.job_gpus(found, "1gpu2,3", pci)) == [BY_BUS[1].bus, BY_BUS[3].bus]
    assert buses(gpus.job_gpus(found, "4,9,5", pci)) == [BY_BUS[4].bus]  # 9 ends the list
    assert buses(gpus.job_gpus(found, "4,x,5", pci)) == [BY_BUS[4].bus]
    assert gpus.job_gpus(found, "4,4", pci) == gpus.JobGpus()  # a repeat hides every GPU


def test_gpus_named_by_uuid_or_unique_prefix():
    found = nvml(EIGHT_H100)
    full, prefix = EIGHT_H100[2].uuid, EIGHT_H100[5].uuid[:13]
    assert buses(gpus.job_gpus(found, f"{full},{prefix}", None)) == sorted(
        [EIGHT_H100[2].bus, EIGHT_H100[5].bus]
    )
    # "GPU-0" starts every UUID here: ambiguous, it ends the list as in CUDA
    assert buses(gpus.job_gpus(found, f"{full},GPU-0,{prefix}", None)) == [EIGHT_H100[2].bus]
    assert gpus.job_gpus(found, f"{full},3", None).gpus == gpus.job_gpus(found, full, None).gpus


def test_mig_instances_and_mixed_machines_in_fastest_first_order_are_left_untold():
    found = nvml(EIGHT_H100)
    mig = gpus.job_gpus(found, "MIG-4f0b5e1e-aaaa-bbbb-cccc-000000000001", None)
    assert mig.gpus == () and "MIG" in mig.reason
    mixed = nvml(machine(A100, [0x17, 0x65]) + machine(T4, [0x31], tag="1"))
    guess = gpus.job_gpus(mixed, "1", None)
    assert guess.gpus == () and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in guess.reason
    assert buses(gpus.job_gpus(mixed, "1", "PCI_BUS_ID")) == [0x31]  # A100 0x17, T4 0x31, …
    assert len(gpus.job_gpus(mixed, "2,0,1", None).gpus) == 3  # every GPU: the set is known


# -- the A/B gate: records and locks of this job's GPUs only ---------------------------------


def test_lock_clocks_locks_and_resets_only_this_jobs_gpu(monkeypatch):
    lib = FakeNvml(EIGHT_H100)
    monkeypatch.setattr(gate_gpu, "_nvml", lambda: lib)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    mine = next(i for i, g in enumerate(EIGHT_H100) if g.bus == BY_BUS[3].bus)
    with gate_gpu.locked_clocks(True) as done:
        assert [h for h, *_ in lib.locked] == [f"gpu{mine}"]
        assert len(done) == 1 and f"GPU {mine} ({H100})" in done[0]
    assert lib.reset == [f"gpu{mine}"]
    (record,) = gate_gpu.clocks()
    assert record["index"] == mine and record["uuid"] == EIGHT_H100[mine].uuid


def test_lock_clocks_locks_nothing_where_the_gpu_cannot_be_told(monkeypatch):
    lib = FakeNvml(machine(A100, [0x17]) + machine(T4, [0x31], tag="1"))
    monkeypatch.setattr(gate_gpu, "_nvml", lambda: lib)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    with gate_gpu.locked_clocks(True) as done:
        assert lib.locked == [] and "nothing locked" in done[0]
    assert lib.reset == []
    assert "CUDA_DEVICE_ORDER" in gate_gpu.clocks()[0]["error"]


def test_the_zygote_lists_this_jobs_gpus_without_visionbench(monkeypatch):
    fake = FakeNvml(machine(A100, [0x17, 0x65]) + machine(T4, [0x31], tag="1"))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert zygote.gpus() == [T4]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert sorted(zygote.gpus()) == [A100, A100, T4]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.delenv("CUDA_DEVICE_ORDER")
    assert zygote.gpus() == ["unmatched"]
    assert fake.inits == fake.shutdowns == 3
    module = zygote.gpus_module()  # measure/gpus.py by path, not visionbench's module
    assert module is not gpus and module.__name__ == "visionbench_zygote_gpus"
    assert module.__file__ == gpus.__file__


def test_the_zygote_synchronises_every_device_the_worker_started():
    started = {1, 3}.__contains__
    assert zygote.started_devices(4, started, current=0) == [1, 3]
    assert zygote.started_devices(4, None, current=2) == [2]  # a torch that cannot say
