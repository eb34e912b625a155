#!/usr/bin/env bash
# The prepared GPU check: what a session does with a lent GPU, in one command that ends inside the device's
# 10-minute limit (a session is lent 15 minutes of device time in all, start-up included).
#
# In order, each stage time-boxed, everything logged to $OUT/log.txt:
#   1. the GPU benchmarks (benchmarks/model_throughput.py, benchmarks/internal_rl_throughput.py) -> $OUT/bench.txt;
#   2. `gpu`-preset pretraining of the gridworld base model, one run per next-observation weight lambda in
#      $LAMBDAS, all at once (the models are small: each run is kernel-launch bound and leaves the GPU mostly
#      idle, so concurrent runs cost little). The number of steps is what fits the time box: a short
#      calibration run of every lambda at once measures the concurrent steps/s and the fixed costs (data,
#      final evaluation), then each run trains a full cosine schedule of that many steps (at most the preset's).
#      Each run directory comes back as $OUT/base_<name>.tar (name: obs0, obs001 for lambda 0.01, ...);
#   3. the metacontroller (`$META_PRESET` preset) on each base, all at once, in what time is left. It checkpoints
#      every 1,000 steps, so a run stopped at the box is resumed on a CPU by rerunning its command into the
#      same directory. All metacontroller runs come back in $OUT/meta.tar.
#
# The device's CPU time is dear: make the training data beforehand, here, and carry it (DATA; the data the
# `gpu` preset would generate itself, since `minirl data` and `minirl pretrain` draw it the same way; 32 MB,
# which with the wheels and the repository stays under the device's 64 MiB):
#   minirl data gridworld --episodes 500000 --seed 0 --out runs/gpu/data_500k_s0.npz   # ~2 min on one core
# mujoco and gymnasium are not on that machine: carry their wheels, made once here with the pip download line
# of /work/.library/device/README.md into .whl/ (gymnasium farama-notifications mujoco mujoco-core glfw
# pyopengl, for Python 3.12; 14 MB). Then, from a session with a lent GPU (the device tool's `run`):
#   run(command="DATA=runs/gpu/data_500k_s0.npz bash scripts/gpu_session.sh",
#       carry=[".whl", "runs/gpu/data_500k_s0.npz"], timeout_s=600)
# and unpack what came back: `for f in <files_at>/*.tar; do tar xf $f -C runs/gpu; done`. On 2026-12-04 this
# took 545 s on an H200: 8,065 pretraining steps per lambda; the metacontrollers, stopped by the box, were
# finished from their step-2,000 (lambda 0) and step-3,000 (lambda 0.01) checkpoints by rerunning their
# commands in a second call while the machine was warm (README, "The gpu preset on one GPU").
# Locally (no GPU), `OUT=/tmp/out WORK=/tmp/work PRESET=tiny META_PRESET=tiny CAL_STEPS=10 bash
# scripts/gpu_session.sh` checks the script in about a minute (tests/test_gpu_session.py does).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder that comes back}
PRESET=${PRESET:-gpu}            # tiny: a seconds-long check of this script on a CPU
META_PRESET=${META_PRESET:-cpu}  # the metacontroller's preset (cpu: 10,000 steps of 128 episodes; 4,000 until 2026-12-07)
BUDGET_S=${BUDGET_S:-560}        # the whole script, seconds; the device's per-command limit is 600
WORK=${WORK:-runs/gpu}           # where the run directories go
BENCH=${BENCH:-1}                # 0: skip the benchmarks
LAMBDAS=${LAMBDAS:-"0 0.01"}     # next-observation weights, one base model each
DATA=${DATA:-}                   # training .npz made beforehand (empty: each run generates the preset's own)
CAL_STEPS=${CAL_STEPS:-300}      # steps of the calibration runs
META_S=${META_S:-150}            # seconds kept for the metacontrollers
start=$(date +%s)
left() { echo $((BUDGET_S - ($(date +%s) - start))); }
name() { echo "obs${1//./}"; }   # 0.01 -> obs001
mkdir -p "$WORK"
exec > >(tee -a "$OUT/log.txt") 2>&1

if [ -d .whl ] && ! python3 -c "import mujoco, gymnasium" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30 OMP_NUM_THREADS=4
export MUJOCO_GL=${MUJOCO_GL:-disable}  # nothing here renders: no OpenGL library is loaded
python3 -c "import torch, minirl; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
    torch.cuda.get_device_name() if torch.cuda.is_available() else '')" || exit 1
data=(); [ -n "$DATA" ] && data=(--data "$DATA")

if [ "$BENCH" = 1 ]; then
  echo "== 1. benchmarks ($(left) s left)"
  if [ "$PRESET" = tiny ]; then quick=(--quick); nb=(--batch 16 --naive-episodes 1); else quick=(); nb=(); fi
  { timeout 80 python3 benchmarks/model_throughput.py --models cpu,gpu "${quick[@]}"
    timeout 40 python3 benchmarks/internal_rl_throughput.py "${nb[@]}"; } 2>&1 | tee "$OUT/bench.txt"
fi

echo "== 2a. calibration: $CAL_STEPS steps of every lambda ($LAMBDAS) at once ($(left) s left)"
pids=()  # wait on these alone: a bare `wait` would also wait for the `tee` above, which never ends
for l in $LAMBDAS; do
  rm -rf "$WORK/cal_$(name "$l")"
  timeout 150 python3 -m minirl pretrain gridworld --preset "$PRESET" --obs_coef "$l" --seed 0 --steps "$CAL_STEPS" \
    --warmup_steps 0 --out "$WORK/cal_$(name "$l")" "${data[@]}" > "$WORK/cal_$(name "$l").log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
# slowest run's steps/s and fixed cost (data, evaluation: wall time minus training time) -> steps that fit the box
steps=$(python3 - "$WORK" "$PRESET" "$(( $(left) - META_S - 30 ))" $LAMBDAS <<'EOF'
import json, sys
from minirl.config import pretrain_preset
work, preset, box, lambdas = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
runs = [json.load(open(f"{work}/cal_obs{l.replace('.', '')}/metrics.json")) for l in lambdas]
rate = min(m["steps"] / m["train_seconds"] for m in runs)
fixed = max(m["wall_time_s"] - m["train_seconds"] for m in runs)
steps = max(0, min(pretrain_preset(preset).steps, int(0.9 * rate * (box - fixed))))
print(f"calibration: {rate:.1f} steps/s per run, {fixed:.0f} s fixed; {steps} steps fit {box} s", file=sys.stderr)
print(steps)
EOF
) || { echo "calibration failed: see $WORK/cal_*.log"; tail -n 5 "$WORK"/cal_*.log; exit 1; }

echo "== 2b. pretraining, preset $PRESET, $steps steps, lambda in ($LAMBDAS) at once ($(left) s left)"
pids=()
for l in $LAMBDAS; do
  run="$WORK/base_$(name "$l")"
  timeout $(( $(left) - 40 )) python3 -m minirl pretrain gridworld --preset "$PRESET" --obs_coef "$l" --seed 0 \
    --steps "$steps" --out "$run" "${data[@]}" > "$run.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
for l in $LAMBDAS; do
  run="$WORK/base_$(name "$l")"
  tail -n 1 "$run.log"; cp "$run.log" "$run/"
  tar cf "$OUT/base_$(name "$l").tar" -C "$WORK" "base_$(name "$l")"
done

echo "== 3. metacontrollers, preset $META_PRESET ($(left) s left)"
pids=()
for l in $LAMBDAS; do
  [ -f "$WORK/base_$(name "$l")/metrics.json" ] || continue
  meta="$WORK/meta_$(name "$l")"
  timeout $(( $(left) - 15 )) python3 -m minirl metacontroller gridworld --preset "$META_PRESET" \
    --base "$WORK/base_$(name "$l")" --seed 0 --out "$meta" > "$meta.log" 2>&1 &
  pids+=($!)
done
[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
for l in $LAMBDAS; do
  meta="$WORK/meta_$(name "$l")"; [ -d "$meta" ] || continue
  tail -c 400 "$meta.log"; echo; cp "$meta.log" "$meta/"
done
(cd "$WORK" && tar cf "$OUT/meta.tar" meta_* 2>/dev/null)
echo "== done in $(($(date +%s) - start)) s"
