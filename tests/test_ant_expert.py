"""The ant expert: shortest-path guidance, PPO pieces on hand-made numbers, training and data on `tiny`."""

import numpy as np
import pytest
import torch

from minirl.config import DataConfig
from minirl.data_ant import generate_ant
from minirl.envs.ant_batch import AntPinpadBatch
from minirl.envs.ant_core import CELL, NUM_COLOURS, cell_centres, cell_of, distances, sample_episode
from minirl.experts.ant_config import AntExpertConfig, expert_preset
from minirl.experts.ant_expert import EXPERT_OBS_DIM, AntExpert, Guidance, RunningNorm, distance_maps
from minirl.experts.ant_ppo import gae, load_expert
from minirl.experts.ant_ppo import main as train_expert
from minirl.experts.ant_symmetry import canonical_features, relabel_actions, relabel_joints, unrelabel_actions


def test_distance_maps_equal_breadth_first_search():
    for seed in range(100):
        layout, target = sample_episode(seed, 1)["layout"], seed % NUM_COLOURS
        blocked = np.zeros(16, dtype=bool)
        blocked[layout] = True
        blocked[layout[target]] = False
        ref = distances(blocked, layout[target])
        ref[blocked] = np.inf
        np.testing.assert_array_equal(distance_maps(layout[None], np.array([target]))[0], ref)


def walk_guided(env, guide, b: int, goal: int, allowed) -> None:
    """A kinematic point walker, half a cell per move along episode b's guided direction, until it reaches the
    `goal` cell; it must never enter a pad or wall of the layout outside the `allowed` object indices."""
    for _ in range(20):
        _, d, _ = guide.observation(env)
        assert np.isclose(np.linalg.norm(d[b]), 1.0)
        env.qpos[b, :2] += 0.5 * CELL * d[b]
        env.cell[b] = cell_of(env.qpos[b, :2])
        assert env.cell[b] not in np.delete(env.layout[b], allowed)
        if env.cell[b] == goal:
            break
    assert env.cell[b] == goal


def test_guidance_leads_to_the_target():
    """Walking along the guided direction from any start reaches the target pad without touching another."""
    env = AntPinpadBatch(16, task="0-1-2-3")
    env.reset(seeds=np.arange(16))
    guide = Guidance(16)
    guide.update(env)
    goal = env.layout[np.arange(16), env.target()]
    for b in range(16):
        walk_guided(env, guide, b, goal[b], allowed=[env.target()[b]])  # never another pad or the wall
    assert guide.observation(env)[0].shape == (16, EXPERT_OBS_DIM)
    m = guide.map.reshape(16, 16, 4)
    assert (m.sum(-1) <= 1).all() and (m[np.arange(16), goal].sum(-1) == 0).all()  # one-hot, none on the goal


def test_guidance_leads_off_a_visited_pad():
    """Standing on the pad it has just visited (a blocked cell of the next target's map), the ant is still
    guided: a unit direction whose walk reaches the next pad. It once got no direction there and wandered off."""
    env = AntPinpadBatch(16, task="0-1-2-3")
    env.reset(seeds=np.arange(16))
    rows = np.arange(16)
    first = env.layout[rows, 0]
    env.qpos[:, :2] = cell_centres(first)  # on colour 0, then the tracker moves the target on to colour 1
    env.cell[:] = first
    env.tracker.visit(np.ones(16, dtype=bool), np.zeros(16, dtype=np.int64))
    assert (env.target() == 1).all()
    guide = Guidance(16)
    guide.update(env)
    goal = env.layout[rows, 1]
    for b in range(16):
        walk_guided(env, guide, b, goal[b], allowed=[0, 1])  # never a third pad or the wall


def test_running_norm_matches_numpy():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, (50, 4)) for _ in range(5)]
    norm = RunningNorm(4)
    for c in chunks:
        norm.update(torch.as_tensor(c, dtype=torch.float32))
    x = np.concatenate(chunks)
    np.testing.assert_allclose(norm.mean.numpy(), x.mean(0), rtol=1e-4)
    np.testing.assert_allclose(norm.var.numpy(), x.var(0), rtol=1e-3)


def test_gae_on_hand_made_numbers():
    rew = np.array([[1.0], [0.0], [2.0]], np.float32)
    value = np.array([[0.5], [0.5], [0.5]], np.float32)
    done = np.array([[0.0], [1.0], [0.0]], np.float32)  # the episode ends after step 1
    adv, ret = gae(rew, value, done, np.array([1.0], np.float32), gamma=0.9, lam=0.5)
    d2 = 2.0 + 0.9 * 1.0 - 0.5  # bootstraps from the last value
    d1 = 0.0 - 0.5  # terminal: no bootstrap
    d0 = 1.0 + 0.9 * 0.5 - 0.5
    np.testing.assert_allclose(adv[:, 0], [d0 + 0.45 * d1, d1, d2], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + value)


def test_mean_actions_are_deterministic_and_in_range():
    expert = AntExpert(hidden=16)
    x = np.random.default_rng(0).normal(size=(5, EXPERT_OBS_DIM)).astype(np.float32)
    a, b = expert.act(x, deterministic=True), expert.act(x, deterministic=True)
    np.testing.assert_array_equal(a, b)
    s = expert.act(x, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 8) and np.abs(s).max() <= 1.0 and not np.allclose(a, s)


def test_train_tiny_resume_and_generate_data(tmp_path, one_torch_thread):
    cfg = expert_preset("tiny", out=str(tmp_path / "expert"))
    metrics = train_expert(cfg)
    assert {"pretrain_success", "posttrain_success", "env_steps"} <= metrics.keys()
    assert (tmp_path / "expert" / "checkpoint.pt").exists()
    more = train_expert(expert_preset("tiny", out=str(tmp_path / "expert"), iterations=3))  # resumes at 2
    assert more["env_steps"] == 3 * cfg.num_envs * cfg.rollout_steps
    expert = load_expert(tmp_path / "expert")
    warm = train_expert(expert_preset("tiny", out=str(tmp_path / "warm"), iterations=1, init=str(tmp_path / "expert")))
    assert warm["env_steps"] == cfg.num_envs * cfg.rollout_steps  # a new run that starts from trained weights
    seen = lambda run: load_expert(run).norm.count.item()  # noqa: E731  samples in the input statistics
    assert seen(tmp_path / "warm") == pytest.approx(seen(tmp_path / "expert") + cfg.num_envs * cfg.rollout_steps)

    data = generate_ant(expert, "pretrain", episodes=3, seed=1, actions="mean", progress=False)
    n, T = data["actions"].shape[:2]
    assert n == 3 and data["obs"].shape == (3, T + 1, 41) and T == data["lengths"].max()
    for i in range(3):
        L = data["lengths"][i]
        assert (data["subgoals"][i, :L] >= 0).all() and (data["subgoals"][i, L:] == -1).all()
        ep = sample_episode(int(data["seeds"][i]), 16)
        np.testing.assert_array_equal(data["layouts"][i], ep["layout"])  # seeds rebuild the episode
        assert cell_of(data["obs"][i, 0, 27:29].astype(np.float64) * 3.0) == ep["start"]
    again = generate_ant(expert, "pretrain", episodes=3, seed=1, actions="mean", progress=False)
    np.testing.assert_array_equal(data["actions"], again["actions"])  # mean actions: deterministic

    from minirl.data import main as data_main

    stats = data_main(DataConfig(env="ant", episodes=2, expert=str(tmp_path / "expert"), out=str(tmp_path / "d.npz")))
    assert stats["episodes"] == 2 and (tmp_path / "d.npz").exists()


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="gridworld"):
        AntExpertConfig(env="gridworld")
    with pytest.raises(ValueError, match="clip"):
        AntExpertConfig(clip=5.0)
    with pytest.raises(ValueError, match="huge"):
        expert_preset("huge")
    with pytest.raises(ValueError, match="actions"):
        DataConfig(env="ant", actions="greedy")
    with pytest.raises(ValueError, match="0-5"):
        DataConfig(env="ant", task="0-5")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        from minirl.checkpoints import resolve_expert

        resolve_expert("nowhere")


def test_pad_centres_are_inside_their_cells():
    assert (cell_of(cell_centres(np.arange(16))) == np.arange(16)).all()


# ---------------------------------------------------------------- the ant's four-fold symmetry
def relabelled_state(qpos, qvel, k: int):
    """The same physical ant with its legs relabelled k times: torso yaw -k*90 deg, body-frame spin turned."""
    import mujoco

    q2, v2 = qpos.copy(), qvel.copy()
    half = -k * np.pi / 4
    turn = np.array([np.cos(half), 0.0, 0.0, np.sin(half)])
    mujoco.mju_mulQuat(q2[3:7], qpos[3:7], turn)  # torso frame turned about its own z
    a = k * np.pi / 2
    c, s = np.cos(a), np.sin(a)
    v2[3:5] = [c * qvel[3] - s * qvel[4], s * qvel[3] + c * qvel[4]]
    q2[7:] = relabel_joints(qpos[None, 7:], np.array([k]))[0]
    v2[6:] = relabel_joints(qvel[None, 6:], np.array([k]))[0]
    return q2, v2


@pytest.mark.parametrize("k", [1, 2, 3])
def test_relabelling_the_legs_is_an_exact_symmetry(k):
    """Stepping the ant and its relabelled twin with relabelled torques keeps every geom in the same place."""
    import mujoco

    from minirl.envs.ant_core import build_model

    m = build_model()
    a, b = mujoco.MjData(m), mujoco.MjData(m)
    ep = sample_episode(k, 1)
    a.qpos[:], a.qvel[:] = ep["qpos"], np.random.default_rng(k).uniform(-0.5, 0.5, 14)
    b.qpos[:], b.qvel[:] = relabelled_state(a.qpos.copy(), a.qvel.copy(), k)
    legs = [g for g in range(m.ngeom) if m.geom_bodyid[g] > 0 and m.body_mocapid[m.geom_bodyid[g]] < 0]
    rng = np.random.default_rng(0)
    for _ in range(40):
        u = rng.uniform(-1, 1, (1, 8))
        a.ctrl[:], b.ctrl[:] = u[0], relabel_actions(u, np.array([k]))[0]
        mujoco.mj_step(m, a, 5)
        mujoco.mj_step(m, b, 5)
    pa, pb = a.geom_xpos[legs], b.geom_xpos[legs]
    assert np.linalg.norm(pa[:, None] - pb[None], axis=-1).min(1).max() < 1e-8  # same geoms, other labels
    assert np.linalg.norm(pa - pb) > 0.1  # ... and the labels really moved


def test_canonical_features_do_not_depend_on_the_labelling():
    rng = np.random.default_rng(0)
    for seed in range(20):
        ep = sample_episode(seed, 1)
        qvel = rng.uniform(-1, 1, 14)
        d = rng.normal(size=2)
        d /= np.linalg.norm(d)
        x, k = canonical_features(ep["qpos"][None], qvel[None], d[None])
        q2, v2 = relabelled_state(ep["qpos"], qvel, int(rng.integers(1, 4)))
        x2, _ = canonical_features(q2[None], v2[None], d[None])
        np.testing.assert_allclose(x, x2, atol=1e-6)  # one physical ant, one canonical view
        assert abs(np.arctan2(x[0, -1], x[0, -2])) <= np.pi / 4 + 1e-6  # the direction within 45 degrees
        u = rng.uniform(-1, 1, (1, 8))
        np.testing.assert_allclose(unrelabel_actions(relabel_actions(u, k), k), u)


def test_committed_expert_solves_most_tasks():
    """The committed expert (minirl/pretrained/ant_expert.json: command, metrics) completes most tasks on fixed
    seeds: 15 of 16 pretraining episodes and 14 of 16 on the post-training task with mujoco 4.0.0 (0.90 / 0.82 on
    512, README). The bar leaves room for another MuJoCo version's different trajectories."""
    from minirl.checkpoints import resolve_expert
    from minirl.experts.ant_expert import success_rate

    expert = load_expert(resolve_expert("pretrained"))
    pre = success_rate(expert, "pretrain", episodes=16, seed=0)
    post = success_rate(expert, (0, 1, 2, 3), episodes=16, seed=0)
    assert pre["success"] >= 0.6 and pre["pads"] >= 2.0, pre  # an untrained policy stands still: 0 pads
    assert post["success"] >= 0.5 and post["pads"] >= 2.5, post
