"""Rank metacontroller runs on one base model by their held-out objective, which needs no subgoal labels.

Which solution a metacontroller ends in (switches on the subgoal boundaries, or extra early ones) depends at the
`cpu` scale on its seed, its KL schedule and even the torch thread count (README, "Over pretraining seeds"). The
paper trains 3 seeds per configuration ([P] §C.4.5) and keeps what does best. This asks whether the objective
itself, [P] Eq. 3 per step on held-out expert episodes,

    J = action NLL + alpha * KL(N(mu_t, Sigma_t) || N(0, I)),

tells the runs apart, with no labels. Every run is scored on the same held-out episodes (fresh layouts,
`--heldout_seed`) with the same random draws, by `discovery.analyse`, the function that writes `action_nll` and
`kl` to a run's `metrics.json` (there each seed has its own held-out set). J is compared only between runs on
the same base model and at the same final alpha. `switch_f1`, which needs the labels, is printed alongside to
check the ranking, not to make it. Not part of the method: a diagnostic.

    python docs/diagnostics/rank_runs.py RUN [RUN ...]
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch
from common import load

from minirl.discovery import analyse
from minirl.worlds import expert_episodes


def score(run: str, episodes: int, heldout_seed: int) -> dict:
    """One finished gridworld metacontroller run, scored on the common held-out episodes."""
    d = Path(run)
    if not (d / "config.json").exists() or not (d / "checkpoint.pt").exists():
        raise SystemExit(f"{run}: not a finished `minirl metacontroller` run (needs config.json and checkpoint.pt)")
    cfg = json.loads((d / "config.json").read_text())
    if cfg.get("env") != "gridworld" or "alpha" not in cfg or cfg.get("cotrain"):
        raise SystemExit(f"{run}: not a frozen-base gridworld metacontroller run")
    model, meta, layer = load(run, cfg["base"])
    data = expert_episodes("gridworld", "pretrain", episodes, heldout_seed)
    m = analyse(model, meta, data, layer, cfg["tolerance"], "cpu", seed=0)
    alpha = float(cfg["alpha"])
    return {
        "run": run, "base": cfg["base"], "alpha": alpha, "steps": cfg["steps"], "seed": cfg["seed"],
        "anchor": cfg.get("alpha_anchor", 0.0), "nll": m["action_nll"], "kl": m["kl"],
        "objective": m["action_nll"] + alpha * m["kl"], "f1": m["switch_f1"], "switches": m["switches_per_episode"],
    }  # fmt: skip


def rank(runs: list[dict]) -> dict[tuple, list[dict]]:
    """Runs grouped by (base, alpha), each group sorted by J, lowest (best) first."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r["base"], r["alpha"])].append(r)
    return {k: sorted(v, key=lambda r: r["objective"]) for k, v in groups.items()}


def main(argv=None) -> dict[tuple, list[dict]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run directories of `minirl metacontroller gridworld`")
    p.add_argument("--episodes", type=int, default=1000, help="held-out expert episodes, the same for every run")
    p.add_argument("--heldout_seed", type=int, default=90_000, help="their seed (training uses 70,000 + seed)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    groups = rank([score(r, args.episodes, args.heldout_seed) for r in args.runs])
    for (base, alpha), rows in groups.items():
        print(f"\nbase {base}, alpha {alpha}: lowest held-out objective first ({args.episodes} episodes)")
        print("| run | seed | steps | anchor | NLL | KL | objective | switch F1 | switches |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['run']} | {r['seed']} | {r['steps']} | {r['anchor']} | {r['nll']:.4f} | {r['kl']:.4f} "
                  f"| {r['objective']:.4f} | {r['f1']:.2f} | {r['switches']:.2f} |")  # fmt: skip
        print(f"picked: {rows[0]['run']}")
    return groups


if __name__ == "__main__":
    main()
