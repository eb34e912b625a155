"""Base sequence models: the transformer (gridworld) and Hawk (ant) behind one residual-stream interface."""

from minirl.models.hawk import HawkMixer, linear_scan
from minirl.models.sequence_model import SequenceModel
from minirl.models.transformer import CausalSelfAttention

__all__ = ["SequenceModel", "HawkMixer", "CausalSelfAttention", "linear_scan"]
