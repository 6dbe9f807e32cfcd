"""How a figure is taken and kept, whatever the technique:

- `meters`: clocks read after a device sync, peak memory (CUDA graphs' pools included),
  FLOPs;
- `energy`: NVML's energy counter over a block of units;
- `gpus`: which GPUs are this job's (NVML matched to CUDA), the session's NVML;
- `runner`: the one timing routine (`Runner`, `Variant`, `time_rounds`) and the replay
  of ranks' clocks;
- `interleave`: a variant's rounds paired with its reference's, in a random balanced
  order;
- `metrics`: every figure's name, unit and direction, the timed units, and the schema a
  saved benchmark must pass;
- `techniques`: every technique's name (its group), kind and reference: the registry the
  benches, the profiles and the report read;
- `results`: the one reader of saved runs (`Run`, `Bench`);
- `figures`: a saved benchmark's noisy figure (accuracy with its test images and seeds);
- `format`: figures written for people, in their units;
- `fingerprint`: what a run records of its machine and software; `machines`: which runs
  may be compared;
- `shards`: the plan of `--vb-shard` (whole modules, balanced by saved durations);
  `merge`: the runs of shards into one run.
"""

#: Set (to anything but "" or "0") by `visionbench ab` in its timing processes, read by
#: `runner.timing_only`. Here, where importing it loads no torch, for the gate's processes.
TIMING_ONLY_ENV = "VISIONBENCH_TIMING_ONLY"

#: pytest's arguments for a saved run of the benches (`nox -s bench`, `visionbench ci`): the
#: run saved with its raw timings (the gates need the samples), one table per group.
BENCH_ARGS = (
    "--benchmark-autosave", "--benchmark-save-data", "--benchmark-group-by=group",
    "--benchmark-columns=min,median,iqr,rounds", "--benchmark-sort=name",
)  # fmt: skip
