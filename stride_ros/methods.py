"""The benchmark's rows: baselines and the model-based methods, built from a comma list."""
from __future__ import annotations

from functools import partial

from .baselines import BASELINES
from .errors import InputError

GROUPS = {
    "baselines": list(BASELINES),
    "prior": ["prior"],
    "all": list(BASELINES) + ["prior"],
}


def build_methods(spec: str, model: str | None = None, tta_steps: int = 30, lags: str = "0,8",
                  device: str = "cpu") -> dict:
    names: list[str] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        names += GROUPS.get(item, [item])
    methods = {}
    prior = None
    for name in dict.fromkeys(names):
        if name in BASELINES:
            methods[name] = BASELINES[name]
            continue
        if prior is None:
            from .checkpoint import load_model
            prior = load_model(model).to(device)
        if name == "prior":
            from .offline import refine_prior
            methods[name] = partial(refine_prior, prior)
        else:
            raise InputError(f"unknown method {name!r} (known: {', '.join(list(BASELINES) + ['prior'])}, "
                             f"groups: {', '.join(GROUPS)})")
    return methods
