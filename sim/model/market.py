"""Pure market maths (MODEL.md section 7). No state, no randomness, no Mesa: arrays in, arrays out.

Shapes: R runs, B buyers, T tiers, P products, V vendors. The choice and clearing maths, where a month's
work is, are compiled with numba (``*_runs`` kernels) and loop over runs explicitly, so a run's numbers
never depend on which other runs share its batch; the plain functions (``nested_logit``,
``clear_market``) are the same maths for one market, vectorised over leading axes.

Most of a month's other array arithmetic (the model's orders, floors, utility terms, Huawei's output,
the stock-flow update and the records) is compiled too, in kernels that repeat the numpy expressions they
replace operation for operation, so the numbers are the same to the bit: products and quotients in the
same order, ``np.maximum``/``np.minimum``/``np.clip`` with numpy's rules (``_max0``, ``_minimum``,
``_clip``), and sums in numpy's order (``_sum_last`` along a contiguous last axis: 0 plus a pairwise sum in
eight lanes; in turn from 0 along any other axis or over a gathered set of columns). The logarithms,
exponentials and powers numpy computed, and matrix products (BLAS), stay in numpy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---------------------------------------------------------------- choice


@njit(cache=True, nogil=True)
def _nl_row(u, a, vendor_of, origin_of_vendor, n_vendors, lam_v, lam_p, p_o, within, e, s_v, w_v, s_o):
    """Nested logit of one buyer-tier row (see ``nested_logit``); writes p_o (2,) and within (P,).
    e (P,), s_v and w_v (V,), s_o (2,): scratch space, overwritten."""
    P = u.shape[0]
    shift = -np.inf
    for p in range(P):
        if a[p] and u[p] > shift:
            shift = u[p]
    if shift == -np.inf:
        shift = 0.0
    for v in range(n_vendors):
        s_v[v] = 0.0
        w_v[v] = 0.0
    for p in range(P):
        if a[p]:
            e[p] = np.exp((u[p] - shift) / lam_p)
            s_v[vendor_of[p]] += e[p]
        else:
            e[p] = 0.0
    s_o[0] = 0.0
    s_o[1] = 0.0
    for v in range(n_vendors):
        if s_v[v] > 0:
            w_v[v] = s_v[v] ** (lam_p / lam_v)
            s_o[origin_of_vendor[v]] += w_v[v]
    g0 = s_o[0] ** lam_v if s_o[0] > 0 else 0.0
    g1 = s_o[1] ** lam_v if s_o[1] > 0 else 0.0
    tot = g0 + g1
    p_o[0] = g0 / tot if tot > 0 else 0.0
    p_o[1] = g1 / tot if tot > 0 else 0.0
    for p in range(P):
        within[p] = 0.0
        if e[p] > 0:
            v = vendor_of[p]
            wv = w_v[v]
            if wv > 0:
                within[p] = (e[p] / s_v[v]) * (wv / s_o[origin_of_vendor[v]])


@njit(cache=True, nogil=True)
def nested_logit_runs(util, avail, vendor_of, origin_of_vendor, n_vendors, lam_v, lam_p):
    """Nested logit for every run, buyer and tier: util (R, B, T, P), avail (R, B, P) bool, lam_v and
    lam_p (R,). Returns p_origin (R, B, T, 2) and p_within_origin (R, B, T, P)."""
    R, B, T, P = util.shape
    p_o = np.zeros((R, B, T, 2))
    within = np.zeros((R, B, T, P))
    e = np.empty(P)
    s_v = np.empty(n_vendors)
    w_v = np.empty(n_vendors)
    s_o = np.empty(2)
    for r in range(R):
        for b in range(B):
            for t in range(T):
                _nl_row(util[r, b, t], avail[r, b], vendor_of, origin_of_vendor, n_vendors, lam_v[r], lam_p[r],
                        p_o[r, b, t], within[r, b, t], e, s_v, w_v, s_o)
    return p_o, within


@njit(cache=True, nogil=True)
def choice_runs(perf_term, switch_t, sw_bp, bp, avail, vendor_of, origin_of_vendor, n_vendors, lam_v, lam_p, p_o,
                within):
    """``nested_logit_runs`` of the buyers' utility ``(perf_term + switch_t x sw_bp) + bp``, built row by row:
    perf_term (R, T, P), switch_t (R, T), sw_bp and bp (R, B, P), avail (R, B, P) bool, lam_v and lam_p (R,).
    Writes p_origin (R, B, T, 2) and p_within_origin (R, B, T, P) into p_o and within (every element)."""
    R, T, P = perf_term.shape
    B = bp.shape[1]
    u = np.empty(P)
    e = np.empty(P)
    s_v = np.empty(n_vendors)
    w_v = np.empty(n_vendors)
    s_o = np.empty(2)
    for r in range(R):
        for b in range(B):
            for t in range(T):
                st = switch_t[r, t]
                for p in range(P):
                    u[p] = (perf_term[r, t, p] + st * sw_bp[r, b, p]) + bp[r, b, p]
                _nl_row(u, avail[r, b], vendor_of, origin_of_vendor, n_vendors, lam_v[r], lam_p[r],
                        p_o[r, b, t], within[r, b, t], e, s_v, w_v, s_o)


@njit(cache=True, nogil=True)
def utility_parts_runs(installed, bf16, dom_idx, cuda, maturity, vendor_of, exp_w, dom_f, risk_w, belief, foreign_p,
                       taste_sd, z_taste, price_term, policy_bp, offered, unblocked, hi_launched, g):
    """The buyers' utility terms that do not depend on the tier (``Buyer.choose``), run by run in numpy's
    arithmetic: the switching cost per unit of tier scale ``sw_bp = cuda x (1 - maturity of the product's
    vendor) x (1 - experience weight x installed domestic fraction x domestic)``, the risk term
    ``risk_w x belief x foreign`` and ``bp = price_term + risk + policy_bp + taste_sd x z_taste of the
    vendor`` (each (R, B, P)). installed (R, B, P); bf16 (R, P); dom_idx: the domestic products; z_taste
    (R, B, V) this month's taste draws. Also the products each buyer may buy (R, B, P) bool
    (named quota holders included): offered (R, P: launched, legal for the US, with capacity) and not blocked
    for the buyer (unblocked (R, B, P)); the grey product g when some launched H100-class foreign card
    (hi_launched (R, P)) is closed to the buyer and g has capacity (offered[:, g]: the grey product is always
    launched and legal)."""
    R, B, P = installed.shape
    K = dom_idx.shape[0]
    sw_bp = np.empty((R, B, P))
    risk = np.empty((R, B, P))
    bp = np.empty((R, B, P))
    avail = np.empty((R, B, P), dtype=np.bool_)
    c = np.empty(P)
    for r in range(R):
        for b in range(B):
            closed = False
            for p in range(P):
                ok = offered[r, p] and unblocked[r, b, p]
                avail[r, b, p] = ok
                if hi_launched[r, p] and not ok:
                    closed = True
            avail[r, b, g] = closed and offered[r, g]
            for p in range(P):
                c[p] = installed[r, b, p] * bf16[r, p]
            tot = _sum_last(c)
            dsum = 0.0   # numpy's gathered copy of the domestic columns has them outermost: added in turn
            for k in range(K):
                dsum += c[dom_idx[k]]
            domfrac = dsum / tot if tot > 0 else 0.0
            cu = cuda[r, b]
            ed = exp_w[r] * domfrac
            rb = risk_w[r] * belief[r, b]
            ts = taste_sd[r]
            for p in range(P):
                v = vendor_of[p]
                sw_bp[r, b, p] = (cu * (1.0 - maturity[r, v])) * (1.0 - ed * dom_f[p])
                rk = rb * foreign_p[p]
                risk[r, b, p] = rk
                bp[r, b, p] = ((price_term[r, p] + rk) + policy_bp[r, b, p]) + ts * z_taste[r, b, v]
    return sw_bp, risk, bp, avail


@njit(cache=True, nogil=True)
def need_runs(demand, efficiency, backlog, opened):
    """The compute a buyer orders this month (``Buyer.choose``), run by run in numpy's arithmetic: wanted
    ``demand / efficiency + backlog`` (R, B, T), less what the opened stockpile's compute (opened (R, B))
    covers, frontier tier first (``cover_in_priority``). Returns (need, cover) (R, B, T)."""
    R, B, T = demand.shape
    need = np.empty((R, B, T))
    cover = np.empty((R, B, T))
    for r in range(R):
        for b in range(B):
            e = efficiency[r, b]
            s = opened[r, b]
            cum = 0.0
            for t in range(T):
                nd = demand[r, b, t] / e + backlog[r, b, t]
                cum = nd if t == 0 else cum + nd
                cv = _clip(s - (cum - nd), 0.0, nd)
                cover[r, b, t] = cv
                need[r, b, t] = nd - cv
    return need, cover


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
    util = np.asarray(util, dtype=float)
    lead = util.shape[:-1]
    P = util.shape[-1]
    u = np.ascontiguousarray(util.reshape(1, 1, -1, P))
    a = np.broadcast_to(avail, util.shape).reshape(-1, P)
    n = u.shape[2]
    # one "buyer" per row so that availability can differ by row
    p_o, within = nested_logit_runs(np.ascontiguousarray(u.reshape(1, n, 1, P)), np.ascontiguousarray(a[None]),
                                    np.asarray(vendor_of, np.int64), np.asarray(origin_of_vendor, np.int64),
                                    int(n_vendors), np.array([float(lam_vendor)]), np.array([float(lam_product)]))
    p_o = p_o.reshape(*lead, 2)
    within = within.reshape(*lead, P)
    origin_of_product = np.asarray(origin_of_vendor)[np.asarray(vendor_of)]
    return within * p_o[..., origin_of_product], p_o, within


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


def floor_per_buyer(foreign: np.ndarray, domestic: np.ndarray, floor: np.ndarray, order) -> tuple[np.ndarray, ...]:
    """A domestic floor over a buyer's whole purchase instead of tier by tier (MODEL.md 9.5).

    foreign, domestic (..., T): the compute a buyer's choice puts on legal foreign and on domestic products in
    each tier; floor (...): the least domestic share of its legal compute summed over tiers; order: tier
    indices in the order tiers give up foreign compute (lowest priority first). Foreign compute moves to the
    domestic nest tier by tier in that order until domestic >= floor x total, so the last tiers in ``order``
    keep their chosen foreign share as long as the earlier ones can meet the floor. Returns (foreign',
    domestic', locked) (..., T): locked is the domestic compute the floor holds (it may not spill back to
    foreign cards), counted in the same order; totals per tier are preserved.
    """
    order = np.asarray(order)
    inv = np.argsort(order)
    total = (foreign + domestic).sum(axis=-1)
    want = floor * total
    deficit = np.maximum(want - domestic.sum(axis=-1), 0.0)
    moved = cover_in_priority(foreign[..., order], deficit)[..., inv]
    moved = np.where((np.asarray(floor) >= 1.0)[..., None], foreign, moved)  # a full floor leaves no rounding residue
    dom = domestic + moved
    locked = cover_in_priority(dom[..., order], want)[..., inv]
    return foreign - moved, dom, locked


def grey_response(shortage: np.ndarray, shortage_ref, shortage_elasticity, price_ratio: np.ndarray,
                  premium_elasticity, max_multiple) -> np.ndarray:
    """Smuggled volume as a multiple of its reference volume (MODEL.md 9.5): it rises with the share of
    wanted compute left unmet and with the grey price relative to its reference price, up to
    ``max_multiple``. ``(shortage / shortage_ref) ** e_s * price_ratio ** e_p``, clipped to [0, max_multiple]."""
    s = np.maximum(np.asarray(shortage, dtype=float), 0.0) / shortage_ref
    x = s ** shortage_elasticity * np.maximum(np.asarray(price_ratio, dtype=float), 0.0) ** premium_elasticity
    return np.clip(x, 0.0, max_multiple)


def cover_in_priority(need: np.ndarray, supply: np.ndarray) -> np.ndarray:
    """Spread ``supply`` (...,) over tiers in the order given on the last axis of ``need`` (..., T).

    Returns the part of each tier's need covered; the first tier is served first (frontier work gets the
    stockpiled cards before inference does).
    """
    cum = np.cumsum(need, axis=-1)
    before = cum - need
    return np.clip(supply[..., None] - before, 0.0, need)


# ---------------------------------------------------------------- clearing
# (every division in the clearing kernels is guarded, so numpy's error model, which drops the kernels'
# division-by-zero checks, gives the same numbers)


@njit(cache=True, nogil=True, error_model="numpy")
def _ration(orders, cap, own, out, w):
    """Owners first on their captive products, then proportional rationing of the rest (rows x P);
    writes the deliveries into ``out``. w (4, P): scratch space, overwritten."""
    N, P = orders.shape
    own_tot, oth_tot, f_own, f_oth = w[0], w[1], w[2], w[3]
    for p in range(P):
        own_tot[p] = 0.0
        oth_tot[p] = 0.0
    for n in range(N):   # rows in order for each product (the sums of the rule's definition); the sums
        for p in range(P):   # start at +0 and never hold -0, so adding 0 for the other kind of row is exact
            x = orders[n, p]
            o = own[n, p]
            own_tot[p] += x if o else 0.0
            oth_tot[p] += 0.0 if o else x
    for p in range(P):
        fo = cap[p] / own_tot[p] if own_tot[p] > cap[p] else 1.0
        rest = cap[p] - own_tot[p] * fo
        if rest < 0.0:
            rest = 0.0
        f_own[p] = fo
        f_oth[p] = rest / oth_tot[p] if oth_tot[p] > rest else 1.0
    for n in range(N):
        for p in range(P):
            out[n, p] = orders[n, p] * (f_own[p] if own[n, p] else f_oth[p])


@njit(cache=True, nogil=True, error_model="numpy")
def _spill(miss, within, origin, left, pf, delivered, own, got, o2, d, w):
    """Re-order ``miss`` compute (N, 2: per origin) from that origin's products with capacity left, in
    proportion to ``within``; owners first, then proportional rationing. Adds to ``delivered`` and
    writes the compute obtained into ``got`` (N, 2). o2 and d (N, P), w (4, P): scratch space, overwritten."""
    N, P = within.shape
    m = 0.0
    for n in range(N):
        for o in range(2):
            if miss[n, o] > m:
                m = miss[n, o]
    if m <= 1e-12:
        got[:, :] = 0.0
        return
    ok0, ok1, c = w[0], w[1], w[2]   # products with capacity left, per origin (1.0 / 0.0); scale per product
    for p in range(P):
        has = left[p] > 1e-9
        ok0[p] = 1.0 if has and origin[p] == 0 else 0.0
        ok1[p] = 1.0 if has and origin[p] != 0 else 0.0
    for n in range(N):
        ws0 = 0.0   # within shares of the products with capacity left (sums from +0 of values >= 0: adding
        ws1 = 0.0   # 0 for the others is exact)
        for p in range(P):
            x = within[n, p]
            ws0 += x if ok0[p] > 0.0 else 0.0
            ws1 += x if ok1[p] > 0.0 else 0.0
        sc0 = miss[n, 0] / ws0 if ws0 > 0 else 0.0
        sc1 = miss[n, 1] / ws1 if ws1 > 0 else 0.0
        for p in range(P):   # 0 for products without capacity: within (>= 0) x 0 / pf is +0, as the rule's 0
            c[p] = sc0 if ok0[p] > 0.0 else (sc1 if ok1[p] > 0.0 else 0.0)
        for p in range(P):
            o2[n, p] = within[n, p] * c[p] / pf[n, p]
    _ration(o2, left, own, d, w)   # (w is free again: ok0 and ok1 are not used after this)
    for n in range(N):
        g0 = 0.0   # compute obtained per origin (from +0, terms >= 0: adding 0 for the other origin is exact)
        g1 = 0.0
        for p in range(P):
            x = d[n, p]
            delivered[n, p] += x
            y = x * pf[n, p]
            g0 += y if origin[p] == 0 else 0.0
            g1 += 0.0 if origin[p] == 0 else y
        got[n, 0] = g0
        got[n, 1] = g1


@njit(cache=True, nogil=True, error_model="numpy")
def clear_runs(orders, capacity, own, within, origin, pf, locked):
    """Allocate card orders under capacity, run by run (see ``clear_market`` for the rule).

    orders, within, pf (R, N, P) with N = buyers x order classes; capacity (R, P); own (N, P) bool;
    origin (P,) 0 foreign / 1 domestic; locked (R, N). Returns delivered (R, N, P)."""
    delivered = np.zeros(orders.shape)
    clear_runs_into(delivered, orders, capacity, own, within, origin, pf, locked)
    return delivered


@njit(cache=True, nogil=True, error_model="numpy")
def _clear_run(d, o, cap, own, within, origin, pf, locked, left, acc, miss, got, rem, o2, dd, w):
    """One run of ``clear_runs``: orders o, within and pf (N, P), capacity cap (P,), locked (N,); writes the
    deliveries into d (N, P). The other arrays are scratch space."""
    N, P = o.shape
    for p in range(P):
        left[p] = max(cap[p], 0.0)
    _ration(o, left, own, d, w)
    for p in range(P):
        acc[p] = 0.0
    for n in range(N):
        for p in range(P):
            acc[p] += d[n, p]
    for p in range(P):
        left[p] = max(left[p] - acc[p], 0.0)
    biggest = 0.0
    for n in range(N):
        m0 = 0.0   # compute missed per origin (from +0, terms >= 0 as d <= o: adding 0 is exact)
        m1 = 0.0
        for p in range(P):
            x = (o[n, p] - d[n, p]) * pf[n, p]
            m0 += x if origin[p] == 0 else 0.0
            m1 += 0.0 if origin[p] == 0 else x
            if x > biggest:
                biggest = x
        miss[n, 0] = m0
        miss[n, 1] = m1
    if biggest <= 1e-12:
        return
    _spill(miss, within, origin, left, pf, d, own, got, o2, dd, w)  # (2) within the same origin
    for p in range(P):
        acc[p] = 0.0
    for n in range(N):
        for p in range(P):
            acc[p] += d[n, p]
    for p in range(P):
        left[p] = max(cap[p] - acc[p], 0.0)
    for n in range(N):
        rem[n, 1] = max(max(miss[n, 0] - got[n, 0], 0.0), 0.0)  # foreign miss -> domestic products
        rem[n, 0] = max(max(miss[n, 1] - got[n, 1], 0.0) - locked[n], 0.0)  # domestic -> foreign
    _spill(rem, within, origin, left, pf, d, own, got, o2, dd, w)  # (3) to the other origin


@njit(cache=True, nogil=True, error_model="numpy")
def clear_runs_into(delivered, orders, capacity, own, within, origin, pf, locked):
    """``clear_runs`` writing the deliveries into ``delivered`` (R, N, P; every element)."""
    R, N, P = orders.shape
    left = np.empty(P)
    acc = np.empty(P)
    miss = np.empty((N, 2))
    got = np.empty((N, 2))
    rem = np.empty((N, 2))
    o2 = np.empty((N, P))
    dd = np.empty((N, P))
    w = np.empty((4, P))
    for r in range(R):
        _clear_run(delivered[r], orders[r], capacity[r], own, within[r], origin, pf[r], locked[r], left, acc, miss,
                   got, rem, o2, dd, w)


@njit(cache=True, nogil=True, error_model="numpy")
def clear_month_into(delivered, orders, capacity, own, within, fit, origin, pf, locked):
    """``clear_runs_into`` for the model's month: orders, pf and delivered (R, B x (T+1), P) with T tiers and a
    last class that does not spill (buying ahead); the tiers spill in proportion to within (R, B, T, P) x fit
    (R, T, P) (1 for a card that fits the tier, else 0)."""
    R, N, P = orders.shape
    T = fit.shape[1]
    B = N // (T + 1)
    left = np.empty(P)
    acc = np.empty(P)
    miss = np.empty((N, 2))
    got = np.empty((N, 2))
    rem = np.empty((N, 2))
    o2 = np.empty((N, P))
    dd = np.empty((N, P))
    w = np.empty((4, P))
    sp = np.zeros((N, P))   # the spill shares of a run (the buying-ahead rows stay 0)
    for r in range(R):
        for b in range(B):
            for t in range(T):
                n = b * (T + 1) + t
                for p in range(P):
                    sp[n, p] = within[r, b, t, p] * fit[r, t, p]
        _clear_run(delivered[r], orders[r], capacity[r], own, sp, origin, pf[r], locked[r], left, acc, miss, got,
                   rem, o2, dd, w)


@njit(cache=True, nogil=True)
def _pairwise(x):
    """numpy's pairwise sum of a 1-d array (eight lanes up to 128 elements, halves beyond)."""
    n = x.shape[0]
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[i]
        return res
    if n > 128:
        h = n // 2
        h -= h % 8
        return _pairwise(x[:h]) + _pairwise(x[h:])
    r0, r1, r2, r3 = x[0], x[1], x[2], x[3]
    r4, r5, r6, r7 = x[4], x[5], x[6], x[7]
    i = 8
    while i < n - (n % 8):
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def _sum_last(x):
    """``x.sum()`` of a 1-d array as numpy adds it along a contiguous last axis (0 plus the pairwise sum),
    so that compiled code gives the same bits as numpy."""
    return 0.0 + _pairwise(x)


@njit(cache=True, nogil=True)
def orders_runs(need, probs, inv_perf, q, hoard_mult, stock, keep, price, allo):
    """The month's orders before the budget (MarketModel.clear), run by run: need and q (R, B, T), probs
    (R, B, T, P), inv_perf (R, T, P), hoard_mult, stock and keep (R, B, P), price (R, P). Returns allo
    (R, B, T+1, P) with the tiers' card orders ``(need x probs) x inv_perf`` and, in the last class, the
    stockpile gap ``max(gross x hoard_mult - stock, 0) x keep`` (gross: the cards of ``q x probs`` over
    tiers), and the spend of each (R, B) at ``price``. Sums in numpy's order (tiers in turn from 0). allo: the
    output array (every element is written)."""
    R, B, T, P = probs.shape
    base_spend = np.empty((R, B))
    hoard_spend = np.empty((R, B))
    per_bp = np.empty(P)
    gross = np.empty(P)
    tmp = np.empty(P)
    for r in range(R):
        for b in range(B):
            for p in range(P):
                per_bp[p] = 0.0
                gross[p] = 0.0
            for t in range(T):
                nd = need[r, b, t]
                qq = q[r, b, t]
                for p in range(P):
                    pr = probs[r, b, t, p]
                    ip = inv_perf[r, t, p]
                    o = (nd * pr) * ip
                    allo[r, b, t, p] = o
                    per_bp[p] += o
                    gross[p] += (qq * pr) * ip
            for p in range(P):
                x = gross[p] * hoard_mult[r, b, p] - stock[r, b, p]
                if not (x >= 0.0 or np.isnan(x)):
                    x = 0.0
                h = x * keep[r, b, p]
                allo[r, b, T, p] = h
                tmp[p] = per_bp[p] * price[r, p]
            base_spend[r, b] = _sum_last(tmp)
            for p in range(P):
                tmp[p] = allo[r, b, T, p] * price[r, p]
            hoard_spend[r, b] = _sum_last(tmp)
    return allo, base_spend, hoard_spend


@njit(cache=True, nogil=True)
def budget_orders_runs(allo, base_spend, hoard_spend, funds, reserve, need, locked_share):
    """The orders a buyer can pay for (MarketModel.clear), run by run in numpy's arithmetic: with the money
    free this month ``max(funds - reserve, 0)`` (R, B), the tiers' orders in allo (R, B, T+1, P, changed in
    place) are scaled by ``min(1, free / max(base_spend, 1e-9))`` and buying ahead (the last class) by
    ``clip((free - base_spend) / max(hoard_spend, 1e-9), 0, 1)``. Returns the orders per product (R, P;
    buyers and classes added in turn from 0) and the compute locked in the domestic nest (R, B, T+1):
    need x locked_share (R, B, T) for the tiers, 0 for buying ahead."""
    R, B, K, P = allo.shape
    last = np.zeros((R, P))
    locked = np.zeros((R, B, K))
    for r in range(R):
        for b in range(B):
            f = funds[r, b] - reserve[r, b]
            free = f if (f >= 0.0 or np.isnan(f)) else 0.0
            bs = base_spend[r, b]
            hs = hoard_spend[r, b]
            sh = _clip((free - bs) / (hs if (hs >= 1e-9 or np.isnan(hs)) else 1e-9), 0.0, 1.0)
            so = _minimum(1.0, free / (bs if (bs >= 1e-9 or np.isnan(bs)) else 1e-9))
            for k in range(K):
                s = so if k < K - 1 else sh
                for p in range(P):
                    x = allo[r, b, k, p] * s
                    allo[r, b, k, p] = x
                    last[r, p] += x
            for k in range(K - 1):
                locked[r, b, k] = need[r, b, k] * locked_share[r, b, k]
    return last, locked


@njit(cache=True, nogil=True)
def _max0(x):
    """``np.maximum(x, 0.0)`` of one float (x kept when x >= 0 or NaN)."""
    return x if (x >= 0.0 or np.isnan(x)) else 0.0


@njit(cache=True, nogil=True)
def _minimum(a, b):
    """``np.minimum(a, b)`` of two floats (a kept when a <= b or NaN)."""
    return a if (a <= b or np.isnan(a)) else b


@njit(cache=True, nogil=True)
def _clip(x, lo, hi):
    """``np.clip(x, lo, hi)`` of one float: min(max(x, lo), hi), a NaN kept."""
    if np.isnan(x):
        return x
    v = x if x > lo else lo
    if np.isnan(v):
        return v
    return v if v < hi else hi


@njit(cache=True, nogil=True)
def _cover_reversed(need, supply, out):
    """``cover_in_priority(need[::-1], supply)[::-1]`` of one row (T,), written into out."""
    T = need.shape[0]
    cum = 0.0
    for k in range(T):
        nk = need[T - 1 - k]
        cum = nk if k == 0 else cum + nk
        out[T - 1 - k] = _clip(supply - (cum - nk), 0.0, nk)


@njit(cache=True, nogil=True)
def _floor_per_buyer_row(fo, do, fl, out_f, out_d, out_l, tmp):
    """``floor_per_buyer`` of one buyer's row (T,) with the tiers giving up foreign compute from the last
    (lowest priority) first, in numpy's arithmetic. tmp (T,): scratch space."""
    T = fo.shape[0]
    for t in range(T):
        tmp[t] = fo[t] + do[t]
    want = fl * _sum_last(tmp)
    deficit = _max0(want - _sum_last(do))
    moved = out_f
    _cover_reversed(fo, deficit, moved)
    if fl >= 1.0:   # a full floor leaves no rounding residue
        for t in range(T):
            moved[t] = fo[t]
    for t in range(T):
        out_d[t] = do[t] + moved[t]
    _cover_reversed(out_d, want, out_l)
    for t in range(T):
        out_f[t] = fo[t] - moved[t]


@njit(cache=True, nogil=True)
def bound_runs(p_o, within, floor, exempt, per_buyer, need, domestic, gi, probs):
    """China's domestic floors on the choice (``Buyer._bound``) run by run, in numpy's arithmetic: p_o
    (R, B, T, 2) and within (R, B, T, P) from the nested logit, floor (R, B), exempt and per_buyer (R,)
    bool (``grey.floor_exempt``, ``china.floor_per_buyer``), need (R, B, T), domestic (P,) bool, gi the
    grey product. Returns probs (R, B, T, P; written into ``probs``, every element), p_ob (R, B, T, 2) and the
    locked domestic share (R, B, T)."""
    R, B, T, P = within.shape
    p_ob = np.empty((R, B, T, 2))
    lock = np.empty((R, B, T))
    wg = np.empty(T)
    g = np.empty(T)
    lf = np.empty(T)
    fs = np.empty(T)
    ds = np.empty(T)
    fo = np.empty(T)
    do = np.empty(T)
    fb = np.empty(T)
    db = np.empty(T)
    lb = np.empty(T)
    tmp = np.empty(T)
    for r in range(R):
        ex = exempt[r]
        for b in range(B):
            fl = floor[r, b]
            c = _minimum(1.0, 1.0 - fl)
            for t in range(T):
                wg[t] = within[r, b, t, gi] if ex else 0.0   # grey share of the foreign nest, when exempt
                f_all = p_o[r, b, t, 0]
                d_all = p_o[r, b, t, 1]
                g[t] = f_all * wg[t]
                lf[t] = f_all - g[t]
                total = lf[t] + d_all
                f = _max0(_minimum(lf[t], c * total))
                fs[t] = f
                ds[t] = total - f
                lock[r, b, t] = _minimum(ds[t], fl * (lf[t] + d_all) if ex else fl)
            if per_buyer[r]:
                for t in range(T):
                    fo[t] = lf[t] * need[r, b, t]
                    do[t] = p_o[r, b, t, 1] * need[r, b, t]
                _floor_per_buyer_row(fo, do, fl, fb, db, lb, tmp)
                for t in range(T):
                    nd = need[r, b, t]
                    if nd > 0:
                        fs[t] = fb[t] / nd
                        ds[t] = db[t] / nd
                        lock[r, b, t] = lb[t] / nd
            for t in range(T):
                sf = fs[t] / (1.0 - wg[t]) if wg[t] < 1.0 else 0.0
                d = ds[t]
                for p in range(P):
                    probs[r, b, t, p] = within[r, b, t, p] * (d if domestic[p] else sf)
                probs[r, b, t, gi] = g[t] if ex else within[r, b, t, gi] * fs[t]
                p_ob[r, b, t, 0] = fs[t] + g[t]
                p_ob[r, b, t, 1] = ds[t]
    return probs, p_ob, lock


@njit(cache=True, nogil=True)
def record_runs(prod, hoard, buyer, tier, units, revenue, levy, installed, bf16, delivered, d_compute, dom_idx,
                served, demand, inst_aec, unmet, stock, service, train, offshore_now, offshore_usd, efficiency):
    """The month's records (MarketModel.record), written into the month's views of the record blocks:
    prod (R, P, 5), hoard (R, P), buyer (R, B, 10), tier (R, T, 2). Sums in numpy's order (over buyers in
    turn from 0; along a last axis as ``_sum_last``); dom_idx: the domestic products."""
    R, B, T, P = d_compute.shape
    K = dom_idx.shape[0]
    tmp_p = np.empty(P)
    dom_bt = np.empty(T)
    tt = np.empty(T)
    dom_t = np.empty(T)
    for r in range(R):
        for p in range(P):
            u = units[r, p]
            prod[r, p, 0] = u
            prod[r, p, 1] = revenue[r, p]
            prod[r, p, 2] = levy[r, p]
            s_inst = 0.0
            s_hoard = 0.0
            for b in range(B):
                s_inst += installed[r, b, p]
                s_hoard += delivered[r, b, T, p]
            prod[r, p, 3] = s_inst
            prod[r, p, 4] = u * bf16[r, p]
            hoard[r, p] = s_hoard
        for t in range(T):
            tt[t] = 0.0
            dom_t[t] = 0.0
        for b in range(B):
            for t in range(T):
                dc = 0.0   # domestic compute of the buyer's tier (numpy's gathered copy has the products
                for k in range(K):   # outermost, so it adds them in turn)
                    dc += d_compute[r, b, t, dom_idx[k]]
                dom_bt[t] = dc
                dom_t[t] += dc
                tt[t] += served[r, b, t]
            bt = _sum_last(served[r, b])
            buyer[r, b, 0] = _sum_last(demand[r, b])
            buyer[r, b, 1] = inst_aec[r, b]
            buyer[r, b, 2] = _sum_last(unmet[r, b])
            buyer[r, b, 3] = _sum_last(stock[r, b])
            db = _sum_last(dom_bt)
            buyer[r, b, 4] = db / bt if bt > 0 else 0.0
            buyer[r, b, 5] = service[r, b]
            for p in range(P):
                tmp_p[p] = stock[r, b, p] * train[r, p]
            buyer[r, b, 6] = _sum_last(tmp_p)   # unopened stockpile, A100-equivalents
            buyer[r, b, 7] = offshore_now[r, b]
            buyer[r, b, 8] = offshore_usd[r, b]
            buyer[r, b, 9] = efficiency[r, b]
        for t in range(T):
            tier[r, t, 0] = dom_t[t] / tt[t] if tt[t] > 0 else 0.0
            tier[r, t, 1] = tt[t]


@njit(cache=True, nogil=True)
def trace_terms_runs(within, perf_term, price_term, switch_t, sw_bp, risk, policy_bp):
    """The decision trace's utility terms weighted by the choice (``Buyer._trace``): (5, R, B, T, P) with
    within (R, B, T, P) times perf_term (R, T, P), price_term (R, P), switch_t (R, T) x sw_bp (R, B, P),
    risk (R, B, P) and policy_bp (R, B, P), each product as numpy forms it."""
    R, B, T, P = within.shape
    x = np.empty((5, R, B, T, P))
    for r in range(R):
        for b in range(B):
            for t in range(T):
                st = switch_t[r, t]
                for p in range(P):
                    w = within[r, b, t, p]
                    x[0, r, b, t, p] = w * perf_term[r, t, p]
                    x[1, r, b, t, p] = w * price_term[r, p]
                    x[2, r, b, t, p] = w * (st * sw_bp[r, b, p])
                    x[3, r, b, t, p] = w * risk[r, b, p]
                    x[4, r, b, t, p] = w * policy_bp[r, b, p]
    return x


@njit(cache=True, nogil=True)
def trace_store(tr, terms, p_o, p_ob):
    """The month's decision trace into its record ``tr`` (R, B, T, 2, 7): the terms summed per nest (5, R,
    B, T, 2), then the origin shares before (p_o) and after (p_ob) the floors (R, B, T, 2)."""
    K, R, B, T, O = terms.shape
    for r in range(R):
        for b in range(B):
            for t in range(T):
                for o in range(O):
                    for k in range(K):
                        tr[r, b, t, o, k] = terms[k, r, b, t, o]
                    tr[r, b, t, o, K] = p_o[r, b, t, o]
                    tr[r, b, t, o, K + 1] = p_ob[r, b, t, o]


@njit(cache=True, nogil=True)
def grey_first_runs(allo, locked, capacity, exempt, per_buyer, perf, floor, within, domestic, inv_perf, g):
    """Smuggled orders filled first where grey purchases are outside the floors (``MarketModel._clear_grey_first``),
    run by run in numpy's arithmetic: allo (R, B, T+1, P) orders and locked (R, B, T+1) compute are changed in
    place (the grey orders taken out of the runs with ``exempt``, the compute they miss ordered again from legal
    cards under the buyer's floor); capacity (R, P); per_buyer (R,) bool (``china.floor_per_buyer``); perf,
    inv_perf (R, T, P); floor (R, B); within (R, B, T, P). Returns the capacity left for clearing (R, P) and the
    grey cards delivered first (R, B, T+1)."""
    R, B, K, P = allo.shape
    T = K - 1
    cap = capacity.copy()
    first = np.empty((R, B, K))
    go = np.empty((B, K))
    miss = np.empty(T)
    to_for = np.empty(T)
    to_dom = np.empty(T)
    lock = np.empty(T)
    zero = np.zeros(T)
    fb = np.empty(T)
    db = np.empty(T)
    lb = np.empty(T)
    tmp = np.empty(T)
    for r in range(R):
        ex = exempt[r]
        for b in range(B):
            for k in range(K):
                go[b, k] = allo[r, b, k, g] if ex else 0.0
        tot = _sum_last(go.ravel())
        cg = capacity[r, g]
        fill = _minimum(1.0, cg / tot if tot > 0 else 1.0)
        fr = first[r]
        for b in range(B):
            for k in range(K):
                fr[b, k] = go[b, k] * fill
        cap[r, g] = _max0(cg - _sum_last(fr.ravel()))
        if ex:
            for b in range(B):
                for k in range(K):
                    allo[r, b, k, g] = 0.0
        for b in range(B):
            fl = floor[r, b]
            for t in range(T):
                x = (go[b, t] - fr[b, t]) * perf[r, t, g]   # compute the smuggled cards missed
                miss[t] = x
                to_for[t] = (1.0 - fl) * x
                to_dom[t] = fl * x
                lock[t] = to_dom[t]
            if per_buyer[r]:
                _floor_per_buyer_row(miss, zero, fl, fb, db, lb, tmp)
                for t in range(T):
                    to_for[t] = fb[t]
                    to_dom[t] = db[t]
                    lock[t] = lb[t]
            for t in range(T):
                wg = within[r, b, t, g]
                has_f = wg < 1.0   # some legal foreign card is in the buyer's foreign nest
                td = to_dom[t] + (0.0 if has_f else to_for[t])
                sf = to_for[t] / (1.0 - wg) if has_f else 0.0
                for p in range(P):
                    a = within[r, b, t, p] * (td if domestic[p] else sf)
                    if p == g:
                        a = 0.0
                    allo[r, b, t, p] += a * inv_perf[r, t, p]
                locked[r, b, t] += lock[t]
    return cap, first


@njit(cache=True, nogil=True)
def update_runs(installed, stock, d_inst, delivered, opened, life, per_buyer, transfer, price, g):
    """The month's stock-flow update of cards (MarketModel.update), run by run in numpy's arithmetic; installed
    and stock (R, B, P) are changed in place: installed + ((delivered to the tiers + opened) - installed /
    life), stock + (delivered in the buying-ahead class (the last of delivered's classes) - opened). Returns
    units (R, P) (the buyers' cards, summed over buyers in turn), revenue (R, P) (cards x transfer x price, 0
    for the grey product g) and the legal units (units with the grey product's 0)."""
    R, B, P = installed.shape
    T = delivered.shape[2] - 1
    units = np.empty((R, P))
    revenue = np.empty((R, P))
    legal = np.empty((R, P))
    for r in range(R):
        inv_life = 1.0 / life[r]
        for p in range(P):
            units[r, p] = 0.0
            revenue[r, p] = 0.0
        for b in range(B):
            for p in range(P):
                op = opened[r, b, p]
                x = installed[r, b, p]
                installed[r, b, p] = x + ((d_inst[r, b, p] + op) - x * inv_life)
                stock[r, b, p] = stock[r, b, p] + (delivered[r, b, T, p] - op)
                c = per_buyer[r, b, p]
                units[r, p] += c
                revenue[r, p] += (c * transfer[r, b, p]) * price[r, p]
        revenue[r, g] = 0.0
        for p in range(P):
            legal[r, p] = units[r, p]
        legal[r, g] = 0.0
    return units, revenue, legal


@njit(cache=True, nogil=True)
def settle_runs(delivered, first, g, perf, price, funds, need, d_compute):
    """After clearing (MarketModel.clear), run by run in numpy's arithmetic: the grey cards filled first
    (first (R, B, T+1), or an empty array) added to product g of delivered (R, B, T+1, P, changed in place);
    the cards delivered to the tiers d_inst (R, B, P; tiers added in turn from 0) and per buyer (d_inst +
    the buying-ahead class); the budget left ``max(funds - spend at price, 0)`` (R, B); the compute
    delivered, written into d_compute (R, B, T, P), served (R, B, T) and the compute left unmet
    ``max(need - served, 0)``."""
    R, B, K, P = delivered.shape
    T = K - 1
    d_inst = np.empty((R, B, P))
    per_buyer = np.empty((R, B, P))
    left = np.empty((R, B))
    served = np.empty((R, B, T))
    unmet = np.empty((R, B, T))
    tmp = np.empty(P)
    grey = first.shape[0] > 0
    for r in range(R):
        for b in range(B):
            if grey:
                for k in range(K):
                    delivered[r, b, k, g] += first[r, b, k]
            for p in range(P):
                d_inst[r, b, p] = 0.0
            for t in range(T):
                for p in range(P):
                    x = delivered[r, b, t, p]
                    d_inst[r, b, p] += x
                    c = x * perf[r, t, p]
                    d_compute[r, b, t, p] = c
                    tmp[p] = c
                sv = _sum_last(tmp)
                served[r, b, t] = sv
                unmet[r, b, t] = _max0(need[r, b, t] - sv)
            for p in range(P):
                pb = d_inst[r, b, p] + delivered[r, b, T, p]
                per_buyer[r, b, p] = pb
                tmp[p] = pb * price[r, p]
            left[r, b] = _max0(funds[r, b] - _sum_last(tmp))
    return d_inst, per_buyer, left, served, unmet


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
    pf = np.ascontiguousarray(np.broadcast_to(perf[None], (B, K, P)).reshape(1, B * K, P), dtype=float)
    own = np.ascontiguousarray(np.repeat(owner, K, axis=0), dtype=np.bool_)
    lock = np.zeros((1, B * K)) if locked_domestic is None else np.asarray(locked_domestic, float).reshape(1, B * K)
    d = clear_runs(np.ascontiguousarray(orders, dtype=float).reshape(1, B * K, P),
                   np.asarray(capacity, float).reshape(1, P), own,
                   np.ascontiguousarray(within, dtype=float).reshape(1, B * K, P),
                   np.asarray(origin_of_product, np.int64), pf, np.ascontiguousarray(lock))[0]
    served = (d * pf[0]).sum(axis=1)
    wanted = (orders.reshape(B * K, P) * pf[0]).sum(axis=1)
    return d.reshape(B, K, P), np.maximum(wanted - served, 0.0).reshape(B, K)


# ---------------------------------------------------------------- supply


def yield_curve(y0: np.ndarray | float, y_max: float, cum_wafers: np.ndarray | float, scale: float):
    """Learning curve: yield rises from y0 toward y_max as cumulative wafers grow (63% of the gap per
    ``scale`` wafers). Never below y0 nor above max(y0, y_max)."""
    y0 = np.asarray(y0, dtype=float)
    top = np.maximum(y0, y_max)
    return top - (top - y0) * np.exp(-np.asarray(cum_wafers, dtype=float) / scale)


def ascend_capacity(wafers: np.ndarray, gross_dies: np.ndarray, yld: np.ndarray, dies_per_card: np.ndarray,
                    bank_dies: np.ndarray, hbm_stacks: np.ndarray, hbm_available):
    """Cards per product from wafers x good dies (+ TSMC die-bank dies), capped by the HBM stock.

    Arrays are (..., products); ``hbm_available`` is (...) (one stock per run). Returns (cards, hbm_used
    (...), cards_without_hbm_cap). HBM is shared pro rata among the products that need it when it is short.
    """
    good = wafers * gross_dies * yld + bank_dies
    uncapped = good / np.maximum(dies_per_card, 1)
    need = uncapped * hbm_stacks
    tot = need.sum(axis=-1)
    hbm = np.asarray(hbm_available, dtype=float)
    short = (tot > hbm) & (tot > 0)
    scale = np.divide(hbm, tot, out=np.ones_like(tot, dtype=float), where=short)
    cards = np.where((hbm_stacks > 0) & short[..., None], uncapped * scale[..., None], uncapped)
    return cards, (cards * hbm_stacks).sum(axis=-1), uncapped


@njit(cache=True, nogil=True)
def ascend_wafers_runs(wafers, last_orders, dies, good_hint, live, launched_at, t, ramp):
    """Huawei's wafers per product (``Huawei.offer``), run by run in numpy's arithmetic: wafers (R,) split in
    proportion to last month's orders in wafers (last_orders (R, k) x dies / good_hint (k,), launched products
    (live (R, k)) only; evenly over them without orders), the newest launched product (launched_at (R, k), the
    first of the latest) getting at least half of them, reached over ``ramp`` (R,) months after its launch.
    Returns (R, k)."""
    R, K = last_orders.shape
    w = np.empty((R, K))
    share = np.empty(K)
    for r in range(R):
        n_live = 0
        for i in range(K):
            share[i] = (last_orders[r, i] * dies[i]) / good_hint[i] if live[r, i] else 0.0
            if live[r, i]:
                n_live += 1
        tot = _sum_last(share)
        n = n_live if n_live > 1 else 1
        for i in range(K):
            share[i] = share[i] / tot if tot > 0 else (1.0 if live[r, i] else 0.0) / n
        if n_live > 0:
            newest = 0
            best = launched_at[r, 0] if live[r, 0] else -10**9
            for i in range(1, K):
                v = launched_at[r, i] if live[r, i] else -10**9
                if v > best:
                    best = v
                    newest = i
            age = t - launched_at[r, newest] + 1   # months on sale, from 1
            rm = ramp[r]
            least = 0.5 * (_minimum(1.0, age / (rm if (rm >= 1e-9 or np.isnan(rm)) else 1e-9)) if rm > 0 else 1.0)
            a = share[newest]
            share[newest] = a if (a >= least or np.isnan(a)) else least
            tot = _sum_last(share)
            for i in range(K):
                share[i] = share[i] / tot
        for i in range(K):
            w[r, i] = wafers[r] * share[i]
    return w


@njit(cache=True, nogil=True)
def ascend_output_runs(wafers, gross_dies, yld, dies_per_card, bank_dies, hbm_stacks, hbm, live, hbm_cut, bank,
                       cum_wafers, node):
    """Huawei's month (``Huawei.offer``) after the wafers are split, run by run in numpy's arithmetic:
    ``ascend_capacity`` (wafers, yld, bank_dies (R, k); gross_dies, dies_per_card, hbm_stacks (k,); hbm (R,)),
    then only launched products (live (R, k)) are made; the die bank (R,) gives up the dies used, the HBM
    stock (R,) the stacks used once foreign HBM is cut (hbm_cut (R,)), and each node's wafer count
    (cum_wafers (R, nodes), node (k,)) grows by its wafers; bank, hbm and cum_wafers are changed in place.
    Returns the cards (R, k), the cards made (R,) and the HBM stacks drawn from the stock (R,)."""
    R, K = wafers.shape
    cards = np.empty((R, K))
    made = np.empty(R)
    used = np.empty(R)
    unc = np.empty(K)
    raw = np.empty(K)
    tmp = np.empty(K)
    for r in range(R):
        for i in range(K):
            d = dies_per_card[i]
            good = (wafers[r, i] * gross_dies[i]) * yld[r, i] + bank_dies[r, i]
            unc[i] = good / (d if (d >= 1.0 or np.isnan(d)) else 1.0)
            tmp[i] = unc[i] * hbm_stacks[i]
        tot = _sum_last(tmp)
        h = hbm[r]
        short = (tot > h) and (tot > 0)
        scale = h / tot if short else 1.0
        for i in range(K):
            raw[i] = unc[i] * scale if (hbm_stacks[i] > 0 and short) else unc[i]
            tmp[i] = raw[i] * hbm_stacks[i]
        hbm_used = _sum_last(tmp)
        for i in range(K):
            c = raw[i] if live[r, i] else 0.0
            cards[r, i] = c
            tmp[i] = bank_dies[r, i] * (c / unc[i] if unc[i] > 0 else 0.0)
        bank[r] = bank[r] - _sum_last(tmp)
        if hbm_cut[r]:
            hbm[r] = _max0(h - hbm_used)
        for i in range(K):
            cum_wafers[r, node[i]] += wafers[r, i]
        made[r] = _sum_last(cards[r])
        used[r] = hbm_used if hbm_cut[r] else 0.0
    return cards, made, used


def ramp(value_2025: float, growth: float, years_from_2025: np.ndarray) -> np.ndarray:
    """Exogenous capacity ramp (cards per year) around a 2025 anchor."""
    return value_2025 * (1.0 + growth) ** years_from_2025


# ---------------------------------------------------------------- buyers' dynamics


def update_belief(belief: np.ndarray, announced_cut, eased, jump, decay, easing) -> np.ndarray:
    """Belief that foreign supply will be cut: decays each month, jumps to ``jump`` on an announced
    restriction, and is multiplied by ``easing`` when a rule is eased. All arguments broadcast against
    ``belief`` (e.g. (R, 1) flags and parameters against (R, B) beliefs)."""
    b = belief * decay
    b = np.where(eased, b * easing, b)
    b = np.where(announced_cut, np.maximum(b, jump), b)
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
