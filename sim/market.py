"""Pure market maths (MODEL.md section 7). No state, no randomness, no Mesa: arrays in, arrays out.

Shapes: B buyers, T tiers, P products, V vendors. Every function is vectorised over leading axes so the
model evaluates all buyers and tiers of a month in one call.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- choice


def nested_logit(util: np.ndarray, avail: np.ndarray, vendor_of: np.ndarray, origin_of_vendor: np.ndarray,
                 n_vendors: int, lam_vendor: float, lam_product: float):
    """Three-level nested logit: origin -> vendor -> product.

    util, avail: (..., P); vendor_of: (P,) vendor index; origin_of_vendor: (V,) 0 foreign / 1 domestic.
    Returns (p_product (..., P), p_origin (..., 2), p_within_origin (..., P)) where
    p_product = p_origin[origin] * p_within_origin. Products that are not available get probability 0;
    an origin with nothing available gets 0. Adding a product to a vendor cannot raise that vendor's
    share by more than its nest allows (lam_product < lam_vendor <= 1).
    """
    if not (0 < lam_product <= lam_vendor <= 1):
        raise ValueError("need 0 < lam_product <= lam_vendor <= 1")
    u = np.where(avail, util, -np.inf)
    shift = np.max(u, axis=-1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    e = np.exp((u - shift) / lam_product)  # 0 where unavailable
    mv = np.zeros((util.shape[-1], n_vendors))
    mv[np.arange(util.shape[-1]), vendor_of] = 1.0
    s_v = e @ mv  # (..., V)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_prod_in_v = np.where(e > 0, e / np.take(s_v, vendor_of, axis=-1), 0.0)
        w_v = np.where(s_v > 0, s_v ** (lam_product / lam_vendor), 0.0)
        mo = np.zeros((n_vendors, 2))
        mo[np.arange(n_vendors), origin_of_vendor] = 1.0
        s_o = w_v @ mo  # (..., 2)
        p_v_in_o = np.where(w_v > 0, w_v / np.take(s_o, origin_of_vendor, axis=-1), 0.0)
        g_o = np.where(s_o > 0, s_o ** lam_vendor, 0.0)
        tot = g_o.sum(axis=-1, keepdims=True)
        p_o = np.where(tot > 0, g_o / np.where(tot > 0, tot, 1.0), 0.0)
    within = p_prod_in_v * np.take(p_v_in_o, vendor_of, axis=-1)
    origin_of_product = origin_of_vendor[vendor_of]
    p = within * np.take(p_o, origin_of_product, axis=-1)
    return p, p_o, within


def bound_origin_shares(p_origin: np.ndarray, floor: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Apply a floor on the domestic nest and a cap on the foreign nest.

    p_origin (..., 2) [foreign, domestic]; floor and cap broadcast to (...). What the bounds take from
    the foreign nest goes to the domestic nest (where it waits for domestic supply or goes unmet); it is
    never given back to foreign products. Returns the bounded (..., 2), summing to the input total.
    """
    total = p_origin.sum(axis=-1)
    f = np.minimum(p_origin[..., 0], np.minimum(cap, 1.0 - floor) * total)
    f = np.maximum(f, 0.0)
    return np.stack([f, total - f], axis=-1)


def cover_in_priority(need: np.ndarray, supply: np.ndarray) -> np.ndarray:
    """Spread ``supply`` (...,) over tiers in the order given on the last axis of ``need`` (..., T).

    Returns the part of each tier's need covered; the first tier is served first (frontier work gets the
    stockpiled cards before inference does).
    """
    cum = np.cumsum(need, axis=-1)
    before = cum - need
    return np.clip(supply[..., None] - before, 0.0, need)


# ---------------------------------------------------------------- clearing


def clear_market(orders: np.ndarray, capacity: np.ndarray, owner: np.ndarray, within: np.ndarray,
                 origin_of_product: np.ndarray, perf: np.ndarray, locked_domestic: np.ndarray | None = None):
    """Allocate card orders under capacity with owner priority and spill-over.

    orders (B, K, P) cards (K order classes: tiers, plus e.g. a hoarding class); capacity (P,) cards;
    owner (B, P) bool; within (B, K, P) choice probabilities within each origin nest (zero rows: that
    class does not spill); perf (K, P) compute per card; locked_domestic (B, K) compute that policy
    keeps in the domestic nest (a mandate's or guidance's floor) and that may not move to foreign cards.

    Rule: (1) owners first on captive capacity, then every other order for a product gets the same fill
    ratio (proportional rationing); (2) compute left unserved is re-ordered in the same month from
    products of the same origin that still have capacity, in proportion to ``within``; (3) what is
    still unserved moves to the other origin (domestic -> foreign only beyond the locked part);
    whatever remains is unmet.
    Returns (delivered (B, K, P) cards, unmet compute (B, K)).
    """
    dom = origin_of_product.astype(bool)
    left = np.maximum(capacity, 0.0).astype(float)
    delivered = _ration(orders, left, owner)
    left = np.maximum(left - delivered.sum(axis=(0, 1)), 0.0)
    miss = (orders - delivered) * perf
    miss_f = miss[..., ~dom].sum(-1)
    miss_d = miss[..., dom].sum(-1)
    # (2) within the same origin
    got_f, d2, left = _spill(miss_f, within, ~dom, left, owner, perf)
    delivered = delivered + d2
    got_d, d3, left = _spill(miss_d, within, dom, left, owner, perf)
    delivered = delivered + d3
    rem_f = np.maximum(miss_f - got_f, 0.0)
    rem_d = np.maximum(miss_d - got_d, 0.0)
    # (3) across origins
    if locked_domestic is not None:
        rem_d = np.maximum(rem_d - locked_domestic, 0.0) * (rem_d > 0)
    _, d4, left = _spill(rem_f, within, dom, left, owner, perf)
    delivered = delivered + d4
    _, d5, left = _spill(rem_d, within, ~dom, left, owner, perf)
    delivered = delivered + d5
    served = (delivered * perf).sum(-1)
    wanted = (orders * perf).sum(-1)
    return delivered, np.maximum(wanted - served, 0.0)


def _spill(miss: np.ndarray, within: np.ndarray, nest: np.ndarray, left: np.ndarray, owner: np.ndarray,
           perf: np.ndarray):
    """Re-order ``miss`` compute (B, K) from products in ``nest`` with capacity left."""
    w = within * (nest & (left > 1e-9))
    ws = w.sum(-1, keepdims=True)
    if not (miss > 0).any() or not (ws > 0).any():
        return np.zeros_like(miss), np.zeros_like(within), left
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.where(ws > 0, miss[..., None] * w / np.where(ws > 0, ws, 1.0), 0.0) / perf
    o = np.nan_to_num(o, nan=0.0, posinf=0.0)
    d = _ration(o, left, owner)
    return (d * perf).sum(-1), d, np.maximum(left - d.sum(axis=(0, 1)), 0.0)


def _ration(orders: np.ndarray, cap: np.ndarray, owner: np.ndarray) -> np.ndarray:
    own = orders * owner[:, None, :]
    own_tot = own.sum(axis=(0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        f_own = np.where(own_tot > cap, cap / np.where(own_tot > 0, own_tot, 1.0), 1.0)
    rest_cap = np.maximum(cap - own_tot * f_own, 0.0)
    other = orders - own
    oth_tot = other.sum(axis=(0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        f_oth = np.where(oth_tot > rest_cap, rest_cap / np.where(oth_tot > 0, oth_tot, 1.0), 1.0)
    return own * f_own + other * f_oth


# ---------------------------------------------------------------- supply


def yield_curve(y0: np.ndarray | float, y_max: float, cum_wafers: np.ndarray | float, scale: float):
    """Learning curve: yield rises from y0 toward y_max as cumulative wafers grow (63% of the gap per
    ``scale`` wafers). Never below y0 nor above max(y0, y_max)."""
    y0 = np.asarray(y0, dtype=float)
    top = np.maximum(y0, y_max)
    return top - (top - y0) * np.exp(-np.asarray(cum_wafers, dtype=float) / scale)


def ascend_capacity(wafers: np.ndarray, gross_dies: np.ndarray, yld: np.ndarray, dies_per_card: np.ndarray,
                    bank_dies: np.ndarray, hbm_stacks: np.ndarray, hbm_available: float):
    """Cards per product from wafers x good dies (+ TSMC die-bank dies), capped by the HBM stock.

    All arrays are per product. Returns (cards, hbm_used). HBM is shared pro rata when short.
    """
    good = wafers * gross_dies * yld + bank_dies
    cards = good / np.maximum(dies_per_card, 1)
    need = cards * hbm_stacks
    tot = need.sum()
    if tot > hbm_available and tot > 0:
        scale = hbm_available / tot
        cards = np.where(hbm_stacks > 0, cards * scale, cards)
        need = cards * hbm_stacks
    return cards, need.sum()


def ramp(value_2025: float, growth: float, years_from_2025: np.ndarray) -> np.ndarray:
    """Exogenous capacity ramp (cards per year) around a 2025 anchor."""
    return value_2025 * (1.0 + growth) ** years_from_2025


# ---------------------------------------------------------------- buyers' dynamics


def update_belief(belief: np.ndarray, announced_cut: bool, eased: bool, jump: float, decay: float,
                  easing: float) -> np.ndarray:
    """Belief that foreign supply will be cut: decays each month, jumps to ``jump`` on an announced
    restriction, and is multiplied by ``easing`` when a rule is eased."""
    b = belief * decay
    if eased:
        b = b * easing
    if announced_cut:
        b = np.maximum(b, jump)
    return np.clip(b, 0.0, 1.0)


def update_maturity(m: np.ndarray, installs: np.ndarray, rate: float) -> np.ndarray:
    """Ecosystem maturity grows with installs (per million cards) toward 1; never falls."""
    return m + (1.0 - m) * (1.0 - np.exp(-rate * installs / 1e6))


def update_efficiency(eff: np.ndarray, service: np.ndarray, e_max: float, rate: float) -> np.ndarray:
    """Buyers short of compute raise software efficiency toward ``e_max`` (bounded, never falls)."""
    short = np.clip(1.0 - service, 0.0, 1.0)
    return np.minimum(eff + rate * short * (e_max - eff), e_max)


def retire(installed: np.ndarray, lifetime_months: float) -> np.ndarray:
    """Cards retired this month (exponential ageing with the given mean life)."""
    return installed * (1.0 / lifetime_months)
