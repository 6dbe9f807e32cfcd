"""Data-parallel training: DistributedDataParallel launched the way torchrun launches it.

The package: `variants` (what each variant changes), `topology` (world sizes,
backends, torchrun), `comm` (the all-reduce measured by a communication hook),
`rank` (the job and one rank's loop), `launch` (the elastic launcher, its
watchdog and failure reports), `figures` (the bench's job assembled, replayed
and recorded). Its bench is `benches/bench_data_parallel.py`, its session state
`fixtures/data_parallel.py`, its report section `visionbench.report.scaling`.

A `Job` is one variant at one world size. `launch` starts its ranks through
torch.distributed's elastic launcher (`LaunchConfig` + `elastic_launch`, the
API behind torchrun) with a c10d rendezvous on port 0 of the loopback address:
the agent's TCP store binds a port the OS picks at that moment and the ranks
join through it, so two launches running at once never race for a port. CUDA:
NCCL, one process per GPU. CPU: gloo, the cores this process may use split
evenly between the ranks (each pinned to its share, with as many torch
threads), so that every world size runs on the same cores.

Every rank runs `worker`:
  1. accuracy: the profile's recipe trained data-parallel at the recipe's
     global batch (each global batch split into world size x micro-batches,
     drop_last), evaluated on rank 0;
  2. the timed unit: one synchronised DDP step at a fixed per-rank batch (weak
     scaling: the global batch grows with the world size), between two
     barriers; rank 0's clock gives the samples;
  3. the all-reduce, measured by a DDP communication hook that wraps the
     variant's hook (DDP's `allreduce_hook`, the reference, or the bf16/fp16
     compression hooks of `ddp_comm_hooks.default_hooks`): while the wrapped
     hook runs, each all-reduce it issues is counted (the bytes of the tensor
     handed to the collective, so a compressed bucket counts at its compressed
     size) and timed from its launch to its completion (host clock on the CPU,
     CUDA events on the GPU);
  4. peak memory of one step, per rank (the largest is recorded): the CUDA
     allocator's peak, or on the CPU the live torch tensors of the step plus
     DDP's gradient buckets as its reducer reports them.

Faults: a rank that raises or is killed fails the launch (the agent
stops the others); a rank that hangs makes the others' collectives time out
after `Job.timeout_s`, and a watchdog kills every rank still running after
`Job.deadline_s`. `launch` then raises `DataParallelError` naming each rank and
what became of it, after making sure none of the ranks is left running.

Under torchrun (`torchrun --nnodes N ... -m pytest benches/bench_data_parallel.py`)
the pytest process of each rank is itself a rank: `run_in_process` runs the
job on the process group torchrun set up, and only rank 0 records.
"""
