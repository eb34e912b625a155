"""What the diagnostic scripts share: their command line and a frozen base model (the committed one by default)
with a metacontroller trained on it."""

import argparse

from minirl.checkpoints import load_base_model, load_metacontroller, resolve_base, resolve_metacontroller


def parser(doc: str, episodes: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--metacontroller", default="pretrained", help="'pretrained' (the committed one) or a run")
    p.add_argument("--base", default="pretrained", help="the base model the metacontroller was trained on")
    p.add_argument("--episodes", type=int, default=episodes, help="expert episodes to fit or test on")
    return p


def load(metacontroller: str, base: str = "pretrained"):
    """A base model and a metacontroller on it, both frozen: (model, meta, layer)."""
    model = load_base_model(resolve_base(base)).requires_grad_(False)
    meta, layer, _ = load_metacontroller(resolve_metacontroller(metacontroller), model)
    return model, meta.requires_grad_(False), layer
