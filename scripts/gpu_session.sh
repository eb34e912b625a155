#!/usr/bin/env bash
# The prepared GPU check: what a session does with a lent GPU, in one command that ends inside the device's
# 10-minute limit (a session is lent 15 minutes of device time in all, start-up included).
#
# In order, each stage time-boxed, everything logged to $OUT/log.txt:
#   1. the GPU benchmarks (benchmarks/model_throughput.py, benchmarks/internal_rl_throughput.py) -> $OUT/bench.txt;
#   2. `minirl pretrain gridworld --preset gpu` into runs/gpu_base, *resumed* from that directory when a
#      session carries it back (it checkpoints every 500 steps, so a stop at the time box loses little), its
#      files copied to $OUT/gpu_base/;
#   3. once pretraining has finished: the mid-depth probe and ground-truth controllers on `0-1-2-3` (the
#      README's steering test across one unseen transition), into $OUT/probe.json and $OUT/control.json.
#
# Run from a session with a lent GPU (the device tool's `run`; mujoco and gymnasium are not on that machine,
# so carry their wheels, made once here with the pip download line of /work/.library/device/README.md into
# .whl/: gymnasium farama-notifications mujoco mujoco-core, for Python 3.12; 10 MB):
#   run(command="bash scripts/gpu_session.sh", carry=[".whl", "runs/gpu_base"], timeout_s=600)
# then copy what came back to runs/gpu_base (`cp <files_at>/gpu_base/* runs/gpu_base/`) for the next session.
# Locally (no GPU), `OUT=/tmp/out WORK=/tmp/work PRESET=tiny bash scripts/gpu_session.sh` checks the script in
# ~30 s (tests/test_gpu_session.py does).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder that comes back}
PRESET=${PRESET:-gpu}           # tiny: a seconds-long check of this script on a CPU
BUDGET_S=${BUDGET_S:-540}       # the whole script, seconds; the device's per-command limit is 600
WORK=${WORK:-runs}              # where the run directories go
BENCH=${BENCH:-1}               # 0: skip the benchmarks (a later session that has them)
RUN=$WORK/gpu_base
start=$(date +%s)
left() { echo $((BUDGET_S - ($(date +%s) - start))); }
exec > >(tee -a "$OUT/log.txt") 2>&1

if [ -d .whl ] && ! python3 -c "import mujoco, gymnasium" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
export MUJOCO_GL=${MUJOCO_GL:-disable}  # nothing here renders: no OpenGL library is loaded
python3 -c "import torch, minirl; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
    torch.cuda.get_device_name() if torch.cuda.is_available() else '')" || exit 1

if [ "$BENCH" = 1 ]; then
  echo "== 1. benchmarks ($(left) s left)"
  if [ "$PRESET" = tiny ]; then quick=(--quick); nb=(--batch 16 --naive-episodes 1); else quick=(); nb=(); fi
  { timeout 150 python3 benchmarks/model_throughput.py "${quick[@]}"
    timeout 60 python3 benchmarks/internal_rl_throughput.py "${nb[@]}"; } 2>&1 | tee "$OUT/bench.txt"
fi

echo "== 2. pretraining, preset $PRESET, into $RUN ($(left) s left)"
mkdir -p "$RUN"
box=$(($(left) - 150))  # leave 150 s for stage 3
if [ "$box" -gt 30 ]; then
  timeout "$box" python3 -m minirl pretrain gridworld --preset "$PRESET" --seed 0 --out "$RUN" --checkpoint_every 500
  echo "pretraining exit status $? (124: stopped at its time box, resumable from $RUN/checkpoint.pt)"
fi
mkdir -p "$OUT/gpu_base" && cp "$RUN"/*.json* "$RUN"/checkpoint.pt "$OUT/gpu_base/" 2>/dev/null

if [ -f "$RUN/metrics.json" ] && [ "$(left)" -gt 60 ]; then
  echo "== 3. mid-depth probe and ground-truth controllers on 0-1-2-3 ($(left) s left)"
  timeout $(($(left) / 2)) python3 -m minirl probe gridworld --preset "$PRESET" --base "$RUN" --seed 0 \
    --out "$WORK/gpu_probe" && cp "$WORK/gpu_probe/metrics.json" "$OUT/probe.json"
  timeout $(($(left) - 10)) python3 -m minirl control gridworld --preset "$PRESET" --base "$RUN" --layers mid \
    --task 0-1-2-3 --seed 0 --out "$WORK/gpu_control" && cp "$WORK/gpu_control/metrics.json" "$OUT/control.json"
fi
echo "== done in $(($(date +%s) - start)) s"
