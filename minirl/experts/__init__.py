"""Experts that generate demonstrations: the gridworld shortest-path policy (ant PPO expert later)."""

from minirl.experts.grid_expert import GridExpert, distance_maps

__all__ = ["GridExpert", "distance_maps"]
