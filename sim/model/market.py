"""Pure market maths (MODEL.md section 7). No state, no randomness, no Mesa: arrays in, arrays out.

Shapes: B buyers, T tiers, P products, V vendors. Every function is vectorised over leading axes so the
model evaluates all buyers and tiers of a month in one call.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- choice


_MEMBERSHIP: dict = {}


def _membership(vendor_of: np.ndarray, origin_of_vendor: np.ndarray, n_vendors: int):
    key = (vendor_of.tobytes(), origin_of_vendor.tobytes(), n_vendors)
    hit = _MEMBERSHIP.get(key)
    if hit is None:
        mv = np.zeros((len(vendor_of), n_vendors))
        mv[np.arange(len(vendor_of)), vendor_of] = 1.0
        mo = np.zeros((n_vendors, 2))
        mo[np.arange(n_vendors), origin_of_vendor] = 1.0
        hit = _MEMBERSHIP[key] = (mv, mo, origin_of_vendor[vendor_of])
    return hit


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
    mv, mo, origin_of_product = _membership(vendor_of, origin_of_vendor, n_vendors)
    avail = np.broadcast_to(avail, util.shape)
    u = np.where(avail, util, -np.inf)
    shift = u.max(axis=-1, keepdims=True)
    shift[~np.isfinite(shift)] = 0.0
    e = np.exp((u - shift) / lam_product)  # 0 where unavailable
    s_v = e @ mv  # (..., V) sum within each vendor
    s_vp = s_v[..., vendor_of]
    p_prod_in_v = np.divide(e, s_vp, out=np.zeros_like(e), where=e > 0)
    w_v = np.power(s_v, lam_product / lam_vendor)  # exp(inclusive value / lam_vendor), 0 when empty
    s_o = w_v @ mo  # (..., 2)
    p_v_in_o = np.divide(w_v, s_o[..., origin_of_vendor], out=np.zeros_like(w_v), where=w_v > 0)
    g_o = np.power(s_o, lam_vendor)
    tot = g_o.sum(axis=-1, keepdims=True)
    p_o = np.divide(g_o, tot, out=np.zeros_like(g_o), where=tot > 0)
    within = p_prod_in_v * p_v_in_o[..., vendor_of]
    p = within * p_o[..., origin_of_product]
    return p, p_o, within


def bound_origin_shares(p_origin: np.ndarray, floor: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Apply a floor on the domestic nest and a cap on the foreign nest.

    p_origin (..., 2) [foreign, domestic]; floor and cap broadcast to (...). What the bounds take from
    the foreign nest goes to the domestic nest (where it waits for domestic supply or goes unmet); it is
    never given back to foreign products. Returns the bounded (..., 2), summing to the input total.
    """
    total = p_origin[..., 0] + p_origin[..., 1]
    f = np.minimum(p_origin[..., 0], np.minimum(cap, 1.0 - floor) * total)
    np.maximum(f, 0.0, out=f)
    out = np.empty_like(p_origin)
    out[..., 0] = f
    out[..., 1] = total - f
    return out


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
    products of the same origin that still have capacity, in proportion to ``within``, rationed
    proportionally; (3) what is still unserved moves to the other origin (domestic -> foreign only
    beyond the locked part), rationed the same way; whatever remains is unmet.
    Returns (delivered (B, K, P) cards, unmet compute (B, K)).
    """
    B, K, P = orders.shape
    om = np.zeros((P, 2))
    om[np.arange(P), origin_of_product.astype(int)] = 1.0
    pf = np.broadcast_to(perf[None], (B, K, P)).reshape(B * K, P)
    own = np.repeat(owner, K, axis=0) if owner.any() else None
    lock = None if locked_domestic is None else locked_domestic.reshape(B * K)
    d, unmet = clear_flat(orders.reshape(B * K, P), capacity, own, within.reshape(B * K, P), om, pf, lock)
    return d.reshape(B, K, P), unmet.reshape(B, K)


def clear_flat(o, capacity, own, within, om, pf, locked):
    """clear_market on flattened rows (N = buyers x classes): o, within, pf (N, P); own (N, P) bool or
    None; om (P, 2) origin membership; locked (N,) or None. Same rule and returns (flattened)."""
    left = np.maximum(capacity, 0.0)
    delivered = _ration(o, left, own)
    left = np.maximum(left - delivered.sum(axis=0), 0.0)
    miss = (o - delivered) * pf
    if miss.max() > 1e-12:
        miss_o = miss @ om  # (N, 2) unserved compute per origin
        got = _spill(miss_o, within, om, left, pf, delivered, own)  # (2) same origin
        left = np.maximum(capacity - delivered.sum(axis=0), 0.0)
        rem = np.maximum(miss_o - got, 0.0)
        if locked is not None:
            rem[:, 1] = np.maximum(rem[:, 1] - locked, 0.0)
        _spill(rem[:, ::-1], within, om, left, pf, delivered, own)  # (3) to the other origin
    served = (delivered * pf).sum(axis=1)
    wanted = (o * pf).sum(axis=1)
    return delivered, np.maximum(wanted - served, 0.0)


def _spill(miss_o, within, om, left, pf, delivered, own):
    """Re-order ``miss_o`` compute (N, 2: per origin) from that origin's products with capacity left,
    in proportion to ``within``; owners first, then proportional rationing; adds to ``delivered`` in
    place and returns the compute obtained (N, 2)."""
    if miss_o.max() <= 1e-12:
        return np.zeros_like(miss_o)
    w = within * (left > 1e-9)
    ws = w @ om  # (N, 2)
    scale = np.divide(miss_o, ws, out=np.zeros_like(miss_o), where=ws > 0)
    o = w * (scale @ om.T) / pf
    d = _ration(o, left, own)
    delivered += d
    return (d * pf) @ om


def _ration(orders: np.ndarray, cap: np.ndarray, owner: np.ndarray | None) -> np.ndarray:
    """Owners first on their captive products, then proportional rationing of the rest (rows x P)."""
    if owner is None:
        tot = orders.sum(axis=0)
        f = np.divide(cap, tot, out=np.ones_like(tot), where=tot > cap)
        return orders * f
    own = orders * owner
    own_tot = own.sum(axis=0)
    f_own = np.divide(cap, own_tot, out=np.ones_like(own_tot), where=own_tot > cap)
    rest_cap = np.maximum(cap - own_tot * f_own, 0.0)
    other = orders - own
    oth_tot = other.sum(axis=0)
    f_oth = np.divide(rest_cap, oth_tot, out=np.ones_like(oth_tot), where=oth_tot > rest_cap)
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

    All arrays are per product. Returns (cards, hbm_used, cards_without_hbm_cap). HBM is shared pro
    rata among the products that need it when it is short.
    """
    good = wafers * gross_dies * yld + bank_dies
    uncapped = good / np.maximum(dies_per_card, 1)
    need = uncapped * hbm_stacks
    tot = need.sum()
    cards = uncapped
    if tot > hbm_available and tot > 0:
        scale = hbm_available / tot
        cards = np.where(hbm_stacks > 0, uncapped * scale, uncapped)
        need = cards * hbm_stacks
    return cards, float(need.sum()), uncapped


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
