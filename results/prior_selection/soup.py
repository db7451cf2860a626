# SPDX-License-Identifier: MIT
"""A candidate prior that costs no training: the weights of two priors of one lineage interpolated
(WiSE-FT, Wortsman et al. 2022: theta = a * new + (1 - a) * old), v3 having been fine-tuned from v2.

Rows of the output head that only the new prior has (its forecast outputs) are kept as they are;
refit them on the interpolated trunk afterwards (`stride-ros train --fit-leads`).

    git show 7e704df:models/stride_small.pt > prior_v2.pt
    python results/prior_selection/soup.py prior_v2.pt models/stride_small.pt 0.5 soup50_raw.pt
    stride-ros train -o runs/soup50 --init soup50_raw.pt --fit-leads 400
    DESIGN=1 bash results/prior_selection/evaluate_prior.sh soup50 runs/soup50/prior.pt
"""
from __future__ import annotations

import argparse

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", help="the prior fine-tuned from (v2)")
    p.add_argument("new", help="the fine-tuned prior (v3)")
    p.add_argument("weight", type=float, help="share of the new prior's weights, 0..1")
    p.add_argument("output")
    a = p.parse_args()
    old = torch.load(a.old, map_location="cpu", weights_only=False)
    new = torch.load(a.new, map_location="cpu", weights_only=False)
    w = a.weight
    state = {}
    for k, v in new["state_dict"].items():
        u = old["state_dict"][k]
        if not v.is_floating_point():
            state[k] = v
        elif u.shape == v.shape:
            state[k] = w * v + (1 - w) * u
        else:  # the head: its first rows are the pose outputs both priors have
            n = u.shape[0]
            state[k] = v.clone()
            state[k][:n] = w * v[:n] + (1 - w) * u
    out = dict(new, state_dict=state, meta=dict(new["meta"], soup=f"{w:g} x {a.new} + {1 - w:g} x {a.old} (weights)"))
    torch.save(out, a.output)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
