# SPDX-License-Identifier: MIT
"""Row-by-row comparison of priors on held-out evidence, against a reference prior.

Reads the `stride-ros evaluate` reports in `reports/<model>/` (real development set per motion:
`real_<motion>.json`; the zoo's families on the validation clips: `zoo_<family>.json`) and writes
`comparison.json` and `comparison.txt` beside them: MPJPE and PA-MPJPE of every prior row per motion
(and pooled over the motions, frame-weighted) and per family, each prior's ratio to the reference,
and whether it loses anywhere by more than the tolerance (the rule a prior must pass to ship).

    python results/prior_selection/compare.py --reference v2 v2 v3 dist600
    python results/prior_selection/compare.py --reports reports/design --reference v2 v2 v3 soup50 soup75

Motions and families are those each report folder holds (a design run may hold fewer).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
MOTIONS = ("acting3", "freestyle1", "freestyle2", "freestyle3")
FAMILIES = ("sim", "blazepose", "lifting", "uncalibrated", "hfr_drops")
REAL_METHODS = ("stream_lag0_prior", "stream_lag8_prior", "prior")
ZOO_METHODS = ("stream_lag0_prior", "prior")
METRICS = (("mpjpe", "MPJPE"), ("pa_mpjpe", "PA-MPJPE"))


def rows_of(reports: Path, model: str) -> dict[str, float]:
    """{"real/<motion>/<method>/<metric>": mm, "zoo/<family>/...": mm} for one prior's runs."""
    d = reports / model
    out: dict[str, float] = {}
    pooled: dict[str, list[tuple[float, int]]] = {}
    for m in (m for m in MOTIONS if (d / f"real_{m}.json").exists()):
        rep = json.loads((d / f"real_{m}.json").read_text())
        for meth in (m for m in ("one_euro", *REAL_METHODS) if m in rep["methods"]):
            for key, _ in METRICS:
                v = rep["methods"][meth]["all"][key]
                out[f"real/{m}/{meth}/{key}"] = v
                pooled.setdefault(f"real/pooled/{meth}/{key}", []).append((v, rep["n_frames"]))
    for k, vs in pooled.items():
        out[k] = sum(v * n for v, n in vs) / sum(n for _, n in vs)
    for f in (f for f in FAMILIES if (d / f"zoo_{f}.json").exists()):
        rep = json.loads((d / f"zoo_{f}.json").read_text())
        for meth in (m for m in ("one_euro", *ZOO_METHODS) if m in rep["methods"]):
            for key, _ in METRICS:
                out[f"zoo/{f}/{meth}/{key}"] = rep["methods"][meth]["all"][key]
    return out


def judged(key: str) -> bool:
    """Rows the rule applies to: every prior row (One Euro is the same for every prior)."""
    return "/one_euro/" not in key


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="folders under --reports")
    p.add_argument("--reports", default="reports", help="folder of the report folders, relative to this script's "
                   "(default reports); comparison.json/.txt are written into it, or beside this script for reports")
    p.add_argument("--reference", required=True, help="the prior a candidate may not lose to")
    p.add_argument("--tolerance", type=float, default=0.01, help="largest loss allowed on any row (default 1 %%)")
    a = p.parse_args()
    models = list(dict.fromkeys([a.reference, *a.models]))
    reports = HERE / a.reports
    out_dir = HERE if a.reports == "reports" else reports
    rows = {m: rows_of(reports, m) for m in models}
    ref = rows[a.reference]
    keys = list(ref)
    verdict = {}
    for m in models:
        ratios = {k: rows[m][k] / ref[k] for k in keys if judged(k)}
        worst = max(ratios, key=ratios.get)
        losses = {k: r for k, r in ratios.items() if r > 1 + a.tolerance}
        verdict[m] = {"worst_row": worst, "worst_ratio": ratios[worst], "rows_lost": losses,
                      "qualifies": not losses}
    (out_dir / "comparison.json").write_text(json.dumps(
        {"reference": a.reference, "tolerance": a.tolerance, "rows": rows, "verdict": verdict}, indent=1) + "\n")
    lines = [f"mm; ratio to {a.reference} in brackets, '!' where it loses by more than {a.tolerance:.0%}", ""]
    head = f"{'row':44s}" + "".join(f"{m:>24s}" for m in models)
    lines += [head, "-" * len(head)]
    for k in keys:
        cells = []
        for m in models:
            r = rows[m][k] / ref[k]
            flag = "!" if judged(k) and r > 1 + a.tolerance else " "
            cells.append(f"{rows[m][k]:9.1f} ({r:5.3f}){flag}" if m != a.reference else f"{rows[m][k]:9.1f}")
        lines.append(f"{k:44s}" + "".join(f"{c:>24s}" for c in cells))
    lines.append("")
    for m, v in verdict.items():
        if m == a.reference:
            continue
        outcome = "qualifies" if v["qualifies"] else "does not qualify"
        lines.append(f"{m}: worst {v['worst_ratio']:.3f} ({v['worst_row']}); rows lost by more than "
                     f"{a.tolerance:.0%}: {len(v['rows_lost'])}; {outcome}")
    (out_dir / "comparison.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
