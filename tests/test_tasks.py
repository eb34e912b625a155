"""Task tables (Tab. A1-A2), subgoal transitions and the task parsers."""

from collections import Counter
from itertools import product

import numpy as np
import pytest

from minirl.tasks import (
    ANT_POSTTRAIN_TASK,
    ANT_PRETRAIN_TASKS,
    GRID_POSTTRAIN_TASK,
    GRID_PRETRAIN_TASKS,
    MAX_TASK_LEN,
    format_task,
    parse_task,
    parse_task_set,
    subgoal_sequence,
    subgoal_transitions,
)

A, B, C, D = 0, 1, 2, 3
PRETRAIN_TRANSITIONS = {(A, C), (A, D), (B, A), (B, D), (C, A), (C, B), (D, B), (D, C)}
POSTTRAIN_TRANSITIONS = {(A, B), (B, C), (C, D), (D, A)}
PAIR = {A: (0, 1), B: (2, 3), C: (4, 5), D: (6, 7)}  # gridworld subgoal -> its two colours


def walks_of_three() -> set[tuple[int, int, int]]:
    """All 3-subgoal sequences whose two transitions are pretraining transitions (4 starts x 2 x 2 = 16)."""
    allowed = PRETRAIN_TRANSITIONS
    return {w for w in product(range(4), repeat=3) if (w[0], w[1]) in allowed and (w[1], w[2]) in allowed}


def own_transitions(subgoal_seqs) -> Counter:
    return Counter((s[i], s[i + 1]) for s in subgoal_seqs for i in range(len(s) - 1))


def test_transition_sets_partition_the_twelve_transitions():
    everything = {(g, h) for g in range(4) for h in range(4) if g != h}
    assert PRETRAIN_TRANSITIONS | POSTTRAIN_TRANSITIONS == everything
    assert not PRETRAIN_TRANSITIONS & POSTTRAIN_TRANSITIONS


# ------------------------------------------------------------------------------------------ gridworld tables
def test_grid_pretrain_tasks_are_table_a1():
    """16 distinct tasks, each 3 colour pairs; with only the 8 allowed transitions there are exactly 16 such."""
    assert len(GRID_PRETRAIN_TASKS) == 16
    assert len(set(GRID_PRETRAIN_TASKS)) == 16
    expected = {sum((PAIR[g] for g in w), ()) for w in walks_of_three()}
    assert len(expected) == 16
    assert set(GRID_PRETRAIN_TASKS) == expected
    for task in GRID_PRETRAIN_TASKS:
        assert isinstance(task, tuple) and len(task) == 6
        assert all(isinstance(c, int) for c in task)


def test_grid_pretrain_transitions_each_four_times():
    seqs = [tuple(t[i] // 2 for i in range(0, 6, 2)) for t in GRID_PRETRAIN_TASKS]
    counts = own_transitions(seqs)
    assert counts == Counter({t: 4 for t in PRETRAIN_TRANSITIONS})
    assert subgoal_transitions(GRID_PRETRAIN_TASKS) == counts


def test_grid_posttrain_task_uses_only_the_other_transitions():
    assert GRID_POSTTRAIN_TASK == (0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3)
    counts = subgoal_transitions([GRID_POSTTRAIN_TASK])
    assert set(counts) == POSTTRAIN_TRANSITIONS
    assert not set(counts) & PRETRAIN_TRANSITIONS
    assert own_transitions([subgoal_sequence(GRID_POSTTRAIN_TASK)]) == counts


def test_subgoal_sequence_gridworld():
    assert subgoal_sequence((0, 1, 4, 5, 2, 3)) == (A, C, B)
    assert subgoal_sequence(GRID_POSTTRAIN_TASK) == (A, B, C, D, A, B)
    for bad in [(0, 2), (1, 0), (0, 1, 4), (1, 2)]:
        with pytest.raises(ValueError, match=format_task(bad)):
            subgoal_sequence(bad)
    with pytest.raises(ValueError, match="unknown env"):
        subgoal_sequence((0, 1), env="atari")


# ------------------------------------------------------------------------------------------ ant tables
def test_ant_pretrain_tasks_are_table_a2():
    assert len(ANT_PRETRAIN_TASKS) == 16
    assert set(ANT_PRETRAIN_TASKS) == walks_of_three()
    counts = subgoal_transitions(ANT_PRETRAIN_TASKS, env="ant")
    assert counts == Counter({t: 4 for t in PRETRAIN_TRANSITIONS})
    assert own_transitions(ANT_PRETRAIN_TASKS) == counts


def test_ant_posttrain_task_uses_none_of_the_pretraining_transitions():
    assert ANT_POSTTRAIN_TASK == (0, 1, 2, 3)
    counts = subgoal_transitions([ANT_POSTTRAIN_TASK], env="ant")
    assert set(counts) == {(0, 1), (1, 2), (2, 3)}
    assert not set(counts) & PRETRAIN_TRANSITIONS


# ------------------------------------------------------------------------------------------ parse_task
def test_parse_task_accepts_well_formed_strings():
    assert parse_task("0-1-4-5") == (0, 1, 4, 5)
    assert parse_task(" 7 ") == (7,)
    assert parse_task("3-2-1-0", num_colours=4) == (3, 2, 1, 0)
    for task in GRID_PRETRAIN_TASKS + (GRID_POSTTRAIN_TASK,):
        assert parse_task(format_task(task)) == task
    assert format_task((0, 1, 4, 5)) == "0-1-4-5"


@pytest.mark.parametrize("bad", ["", " ", "0--1", "a-b", "0-8", "1.5", "0,1", "-1", "0-", "-0", "+1", "0-1-x", "0-²"])
def test_parse_task_rejects_malformed_strings(bad):
    with pytest.raises(ValueError) as err:
        parse_task(bad)
    msg = str(err.value)
    assert repr(bad) in msg or (bad.strip() != "" and bad in msg), msg


def test_parse_task_range_depends_on_num_colours():
    assert parse_task("3", num_colours=4) == (3,)
    with pytest.raises(ValueError, match="outside 0..3"):
        parse_task("4", num_colours=4)


def test_parse_task_sequences():
    assert parse_task([0, 1, 4, 5]) == (0, 1, 4, 5)
    assert parse_task(np.array([2, 3])) == (2, 3)
    assert all(type(c) is int for c in parse_task(np.array([2, 3])))
    for bad in ([], [0, 1.5], [0, 8], [-1], [0, None], 5):
        with pytest.raises(ValueError):
            parse_task(bad)


def test_parse_task_length_guard():
    assert len(parse_task([0] * MAX_TASK_LEN)) == MAX_TASK_LEN
    with pytest.raises(ValueError, match=str(MAX_TASK_LEN)):
        parse_task("-".join(["0"] * (MAX_TASK_LEN + 1)))


# ------------------------------------------------------------------------------------------ parse_task_set
def test_parse_task_set_named_sets():
    assert parse_task_set("pretrain") == GRID_PRETRAIN_TASKS
    assert parse_task_set(" pretrain ") == GRID_PRETRAIN_TASKS
    assert parse_task_set("posttrain") == (GRID_POSTTRAIN_TASK,)
    assert parse_task_set("pretrain", num_colours=4, env="ant") == ANT_PRETRAIN_TASKS
    assert parse_task_set("posttrain", num_colours=4, env="ant") == (ANT_POSTTRAIN_TASK,)


def test_parse_task_set_strings_and_sequences():
    assert parse_task_set("0-1-4-5") == ((0, 1, 4, 5),)
    assert parse_task_set("0-1-4-5,2-3-0-1") == ((0, 1, 4, 5), (2, 3, 0, 1))
    assert parse_task_set(" 0-1 , 2-3 ") == ((0, 1), (2, 3))
    assert parse_task_set([0, 1, 4, 5]) == ((0, 1, 4, 5),)  # a list of ints is one task
    assert parse_task_set(np.array([0, 1])) == ((0, 1),)
    assert parse_task_set([[0, 1], (2, 3)]) == ((0, 1), (2, 3))  # a list of tasks
    assert parse_task_set(["0-1", "2-3-6-7"]) == ((0, 1), (2, 3, 6, 7))
    assert parse_task_set(np.array([[0, 1], [4, 5]])) == ((0, 1), (4, 5))
    assert parse_task_set(GRID_PRETRAIN_TASKS) == GRID_PRETRAIN_TASKS


@pytest.mark.parametrize("bad", ["", "0-1,", "0-1,,2-3", "0-1,a", "pretrain,0-1", "0-9"])
def test_parse_task_set_rejects_malformed_strings_naming_them(bad):
    with pytest.raises(ValueError) as err:
        parse_task_set(bad)
    msg = str(err.value)
    assert repr(bad) in msg or (bad != "" and bad in msg), msg


def test_parse_task_set_rejects_bad_sequences():
    for bad in ([], [[0, 1], []], [[0, 1], [9]], [0, [1, 2]]):
        with pytest.raises(ValueError):
            parse_task_set(bad)
