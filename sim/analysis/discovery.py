"""Scenario discovery: boxes of grid inputs where an outcome is of interest (PRIM, with CART as a check).

Every finished run is one case: its design point's axis values are the inputs (months as month numbers,
text and true/false as categories) and it is "of interest" when its outcome is above (or below) the
threshold. PRIM (EMA Workbench's implementation) peels the input space towards the cases of interest;
each peeling step is a box on the trade-off curve between

    coverage   the share of all cases of interest that fall inside the box
    density    the share of the cases inside the box that are of interest

and restricts some dimensions. The box reported is the one with the highest coverage whose density
reaches ``density`` (else the densest). A shallow CART tree on the same cases checks the result.

Outputs: ``discovery.csv`` (box, coverage, density, parameter, low, high: one row per restricted
dimension), ``discovery_tradeoff.csv`` (the peeling trajectory), ``discovery_cart.csv`` (CART leaves of
interest, same columns) and ``discovery.json`` (the request and its inputs).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.results import (
    AnalysisError,
    check_outcome,
    month_label,
    numeric_inputs,
    open_results,
    outcome_per_run,
    write_json,
)

COLUMNS = ["box", "coverage", "density", "parameter", "low", "high"]
TRADEOFF = ["box", "step", "coverage", "density", "mass", "res_dim", "selected"]
FILE, TRADEOFF_FILE, CART_FILE = "discovery.csv", "discovery_tradeoff.csv", "discovery_cart.csv"
UNRESTRICTED = "(no restriction)"


@dataclass
class Discovery:
    boxes: pd.DataFrame                   # COLUMNS
    tradeoff: pd.DataFrame                # TRADEOFF
    cart: pd.DataFrame                    # COLUMNS
    cases: int
    of_interest: int
    notes: list[str] = field(default_factory=list)


def _prim_module():
    with warnings.catch_warnings():  # optional parallel back-ends it does not find (not used here)
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim
    return prim


def _fmt(v, kind: str) -> str:
    if isinstance(v, (set, frozenset)):
        return "{" + "; ".join(sorted(str(x) for x in v)) + "}"
    if kind == "month":
        return month_label(float(v))
    return f"{float(v):.6g}"


def _restricted(lims: pd.DataFrame, init: pd.DataFrame) -> list[str]:
    out = []
    for c in init.columns:
        a, b = lims[c].tolist(), init[c].tolist()
        if isinstance(b[0], (set, frozenset)):
            if set(a[0]) != set(b[0]):
                out.append(c)
        elif float(a[0]) > float(b[0]) or float(a[1]) < float(b[1]):
            out.append(c)
    return out


def _box_rows(label: str, cov: float, dens: float, lims: pd.DataFrame, init: pd.DataFrame,
              kinds: dict[str, str]) -> list[tuple]:
    dims = _restricted(lims, init)
    if not dims:
        return [(label, cov, dens, UNRESTRICTED, "", "")]
    rows = []
    for c in dims:
        lo, hi = lims[c].tolist()
        if isinstance(lo, (set, frozenset)):
            rows.append((label, cov, dens, c, _fmt(lo, "cat"), _fmt(lo, "cat")))
        else:
            rows.append((label, cov, dens, c, _fmt(lo, kinds[c]), _fmt(hi, kinds[c])))
    return rows


def prim_boxes(x: pd.DataFrame, y: np.ndarray, density: float = 0.8, peel_alpha: float = 0.05,
               mass_min: float = 0.05, boxes: int = 1, kinds: dict[str, str] | None = None,
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PRIM on cases ``x`` (numbers and categories) with ``y`` 1 for cases of interest.

    Returns (boxes, trade-off): up to ``boxes`` boxes, each the trajectory step with the highest coverage
    whose density reaches ``density`` (else the densest step).
    """
    prim = _prim_module()
    kinds = kinds or {}
    kinds = {c: kinds.get(c, "num") for c in x.columns}
    rows, trade = [], []
    with warnings.catch_warnings():  # pandas 3 deprecations inside the library
        warnings.simplefilter("ignore")
        p = prim.Prim(x.reset_index(drop=True), np.asarray(y, dtype=float), threshold=density,
                      peel_alpha=peel_alpha, paste_alpha=peel_alpha, mass_min=mass_min)
        init = p.box_init
        for k in range(boxes):
            b = p.find_box()
            if b is None:
                break
            traj = b.peeling_trajectory.reset_index(drop=True)
            if len(traj) == 1 and k > 0:   # a "dump box": nothing more to find
                break
            ok = traj.index[traj["density"] >= density - 1e-12]
            i = int(ok[0]) if len(ok) else int(traj["density"].idxmax())
            if i != len(traj) - 1:
                b.select(i)
            label = f"prim-{k + 1}"
            for j, r in traj.iterrows():
                trade.append((label, int(j), float(r["coverage"]), float(r["density"]), float(r["mass"]),
                              int(r["res_dim"]), bool(j == i)))
            rows += _box_rows(label, float(traj.loc[i, "coverage"]), float(traj.loc[i, "density"]),
                              b.box_lims[i], init, kinds)
            if traj.loc[i, "density"] < density:
                break
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(trade, columns=TRADEOFF)


def cart_boxes(x: pd.DataFrame, y: np.ndarray, mass_min: float = 0.05, max_depth: int = 4, seed: int = 0,
               kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Leaves of a shallow classification tree where most cases are of interest, as boxes.

    Categories are coded in the order of their share of cases of interest, so a split on the code is the
    best split into two sets of categories (Breiman et al. 1984)."""
    from sklearn.tree import DecisionTreeClassifier

    kinds = kinds or {}
    y = np.asarray(y, dtype=int)
    codes, cats = pd.DataFrame(index=x.index), {}
    for c in x.columns:
        if isinstance(x[c].dtype, pd.CategoricalDtype):
            order = pd.Series(y, index=x.index).groupby(x[c].astype(str)).mean().sort_values(kind="stable")
            cats[c] = list(order.index)
            codes[c] = x[c].astype(str).map({v: i for i, v in enumerate(cats[c])}).astype(float)
        else:
            codes[c] = x[c].astype(float)
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(1, int(mass_min * len(y))),
                                  random_state=seed).fit(codes.to_numpy(), y)
    t = tree.tree_
    total = max(int(y.sum()), 1)
    leaves = tree.apply(codes.to_numpy())
    rows, n = [], 0

    def walk(node: int, bounds: dict[str, list[float]]) -> None:
        nonlocal n
        if t.children_left[node] == -1:
            inside = leaves == node
            k = int(y[inside].sum())
            dens = k / max(int(inside.sum()), 1)
            if dens > 0.5:
                n += 1
                label = f"cart-{n}"
                cov = k / total
                dims = [c for c in x.columns if c in bounds]
                if not dims:
                    rows.append((label, cov, dens, UNRESTRICTED, "", ""))
                for c in dims:
                    lo, hi = bounds[c]
                    col = codes[c]
                    lo, hi = max(lo, col.min()), min(hi, col.max())
                    if c in cats:
                        kept = {v for i, v in enumerate(cats[c]) if lo <= i <= hi}
                        rows.append((label, cov, dens, c, _fmt(kept, "cat"), _fmt(kept, "cat")))
                    else:
                        inb = col[(col >= lo) & (col <= hi)]
                        rows.append((label, cov, dens, c, _fmt(inb.min(), kinds.get(c, "num")),
                                     _fmt(inb.max(), kinds.get(c, "num"))))
            return
        c, thr = x.columns[t.feature[node]], t.threshold[node]
        lo, hi = bounds.get(c, [-np.inf, np.inf])
        walk(t.children_left[node], {**bounds, c: [lo, min(hi, thr)]})
        walk(t.children_right[node], {**bounds, c: [max(lo, np.nextafter(thr, np.inf)), hi]})

    walk(0, {})
    return pd.DataFrame(rows, columns=COLUMNS)


def interest(values: pd.Series, above: float | None, below: float | None) -> np.ndarray:
    if (above is None) == (below is None):
        raise AnalysisError("give exactly one of --above X or --below X")
    return (values > above).to_numpy() if above is not None else (values < below).to_numpy()


def discover(folder: str | Path, outcome: str, above: float | None = None, below: float | None = None,
             density: float = 0.8, peel_alpha: float = 0.05, mass_min: float = 0.05, boxes: int = 1,
             write: bool = True, command: str = "") -> Discovery:
    if not 0 < density <= 1:
        raise AnalysisError(f"--density must be in (0, 1], got {density}")
    if not 0 < peel_alpha < 0.5:
        raise AnalysisError(f"--peel-alpha must be in (0, 0.5), got {peel_alpha}")
    if not 0 < mass_min < 1:
        raise AnalysisError(f"--mass-min must be in (0, 1), got {mass_min}")
    if boxes < 1:
        raise AnalysisError("--boxes must be at least 1")
    res = open_results(folder)
    name = check_outcome(res, outcome)
    per_run, censored = outcome_per_run(res, name)
    y = interest(per_run["value"], above, below).astype(int)
    cond = f"{name} {'>' if above is not None else '<'} {above if above is not None else below:g}"
    if y.sum() == 0 or y.sum() == len(y):
        lo, hi = per_run["value"].min(), per_run["value"].max()
        raise AnalysisError(f"{'no' if y.sum() == 0 else 'every'} run has {cond} (the outcome ranges from {lo:.4g} "
                            f"to {hi:.4g} over {len(y)} runs): nothing to discover")
    x = numeric_inputs(res, per_run["run"])
    kinds = {a.name: a.kind for a in res.grid.axes}
    box_t, trade = prim_boxes(x, y, density, peel_alpha, mass_min, boxes, kinds)
    cart = cart_boxes(x, y, mass_min, seed=res.grid.seed % 2**32, kinds=kinds)
    notes = [f"{int(y.sum())} of {len(y)} runs have {cond}"]
    reach = y.sum() / (mass_min * len(y))     # the highest density a box of the smallest mass can have
    if reach < density:
        smaller = max(0.001, float(f"{y.mean() / 2:.1g}"))
        notes.append(f"the runs of interest are {y.mean():.1%} of all runs: a box of at least {mass_min:.1%} of the "
                     f"runs (--mass-min) can reach a density of {min(reach, 1):.0%} at most; try --mass-min "
                     f"{smaller:g}")
    if censored:
        notes.append(f"{censored} runs never cross; counted as crossing after the horizon")
    if not res.complete:
        notes.append(f"only {res.done} of {len(res.experiments)} runs are finished")
    out = Discovery(box_t, trade, cart, len(y), int(y.sum()), notes)
    if write:
        box_t.to_csv(res.folder / FILE, index=False, float_format="%.6g")
        trade.to_csv(res.folder / TRADEOFF_FILE, index=False, float_format="%.6g")
        cart.to_csv(res.folder / CART_FILE, index=False, float_format="%.6g")
        write_json({"analysis": "discovery", "command": command, "outcome": name, "condition": cond,
                    "density": density, "peel_alpha": peel_alpha, "mass_min": mass_min, "boxes": boxes,
                    "cases": len(y), "of_interest": int(y.sum()), "notes": notes, "input": res.inputs()},
                   res.folder / "discovery.json")
    return out


def describe(d: Discovery) -> list[str]:
    """Readable lines: each box with its coverage, density and limits."""
    lines = []
    for label, g in d.boxes.groupby("box", sort=False):
        r0 = g.iloc[0]
        lim = "; ".join(f"{r.parameter} in [{r.low}, {r.high}]" if not r.low.startswith("{") else
                        f"{r.parameter} in {r.low}" for r in g.itertuples() if r.parameter != UNRESTRICTED)
        lines.append(f"{label}: coverage {r0.coverage:.0%}, density {r0.density:.0%}, "
                     f"{len(g) if lim else 0} restricted: {lim or 'none'}")
    return lines


__all__ = ["Discovery", "cart_boxes", "describe", "discover", "prim_boxes"]
