"""Numpy reference kernels: the oracle for ``equihome/_core.pyx``.

Same names, signatures, conventions and outputs as the Cython kernels (read their
docstrings there); written for clarity with numpy, vectorised across scenarios where
the recursion allows and across a loan's months where it does not. The arithmetic is
kept in the same order as the Cython code, so results agree bit for bit except where
libm and numpy round ``exp``/``pow`` differently in the last place.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from equihome.model import reference_contracts as rc
from equihome.model import reference_leverage as rl
from equihome.model import reference_portfolio as rp
from equihome.model.fixed_math import exp_values, fixed_exp, int_pow  # noqa: F401
from equihome.model.layout import COL, LEV, ExitKind, check_ledger_shapes
from equihome.model.reference_irr import IRR_CONSTANTS, irr_batch, irr_one  # noqa: F401
from equihome.model.reference_leverage import _Fund, fund_need
from equihome.model.reference_pools import *  # noqa: F403  (the loan-pool kernels' twins)

DT = 1.0 / 12.0
CENT_SLACK = 1e-6  # of a cent; see ``_core`` (_ledger.pxi)


def price_paths(eps, u_regime, mu, sigma, model, kappa, regime, out):
    """Zone log-price indices; see ``_core.price_paths``."""
    eps = np.asarray(eps)
    S, M, Z = eps.shape
    sq = np.sqrt(DT)
    out[:, 0, :] = 0.0
    if model == 0:  # month by month, added in the kernel's order
        for m in range(M):
            out[:, m + 1, :] = out[:, m, :] + (mu - 0.5 * sigma * sigma) * DT + sigma * sq * eps[:, m, :]
    elif model == 1:
        a = exp_values(-kappa * DT)
        sd_step = sigma * np.sqrt((1.0 - a * a) / (2.0 * kappa))
        x = np.zeros((S, Z))
        var = np.zeros(Z)
        for m in range(M):
            x = a * x + sd_step * eps[:, m, :]
            var = a * a * var + sd_step * sd_step
            out[:, m + 1, :] = mu * (m + 1) * DT + x - 0.5 * var
    else:
        bear = u_regime[:, 0] < regime[5]
        for m in range(M):
            drift = mu[None, :] + np.where(bear, regime[1], regime[0])[:, None]
            sig = sigma[None, :] * np.where(bear, regime[4], 1.0)[:, None]
            out[:, m + 1, :] = out[:, m, :] + (drift - 0.5 * sig * sig) * DT + sig * sq * eps[:, m, :]
            u = u_regime[:, m + 1]
            bear = np.where(bear, ~(u < regime[3]), u < regime[2])


def correlate(eps, A, out):
    """Correlated zone shocks, summed in the kernel's order; see ``_core.correlate``."""
    eps = np.asarray(eps)
    acc = eps[..., 0:1] * A[:, 0]
    for k in range(1, A.shape[1]):
        acc = acc + eps[..., k:k + 1] * A[:, k]
    out[...] = acc


def index_levels(zone_log, sub_eps, zone_of, sigma_sub, shock, out):
    """Suburb price levels; see ``_core.index_levels``."""
    step, vol = -0.5 * sigma_sub * sigma_sub * DT, sigma_sub * np.sqrt(DT)
    walk = np.cumsum(step + vol * np.asarray(sub_eps), axis=1)
    zl, sh = np.asarray(zone_log)[:, :, zone_of], np.asarray(shock)[:, zone_of]
    out[:, 0, :] = exp_values(zl[:, 0, :]) * sh[0]
    out[:, 1:, :] = exp_values(zl[:, 1:, :] + walk) * sh[1:]


# --------------------------------------------------------------------------- ledger


def claim_formula(p, tab, lt, L, V0, ratio, tau):
    """The contract's formula ($) before the common terms; see ``_core.claim_formula``."""
    if lt.ctype != 0:
        return rc.contract_claim(tab, lt, L, V0, ratio, tau)
    gain = ratio - 1.0
    claim = L + lt.accrual * tau
    share_v0 = lt.share_v0
    if lt.tiered:
        up = np.zeros_like(gain)
        lo = 0.0
        thr = list(tab.tier_thr[: p["n_tiers"]]) + [np.inf]
        for i, hi in enumerate(thr):
            up = up + tab.tier_share[i] * np.maximum(np.minimum(gain, hi) - lo, 0.0)
            lo = hi
        # the Cython loop stops at the first empty tier; adding zeros changes nothing
        claim_up = claim + up * V0
    else:
        claim_up = claim + share_v0 * gain
    claim_down = claim + share_v0 * gain if p["share_depreciation"] else claim
    return np.where(gain > 0.0, claim_up, claim_down)


def claim_value(p, tab, lt, L, V0, ratio, tau):
    """Fund's claim ($) on homes worth V0*ratio after tau months (arrays broadcast)."""
    claim = claim_formula(p, tab, lt, L, V0, ratio, tau)
    claim = np.where(tau < p["loss_share_months"], np.maximum(claim, L), claim)
    claim = np.minimum(claim, L * rc.cap_at(p, tab, lt, tau))
    if p["claim_floor"] > 0.0:
        claim = np.maximum(claim, p["claim_floor"] * L)
    return np.maximum(np.minimum(claim, V0 * ratio), 0.0)


def walk_loan(p, tab, pool, k, lt, f):
    """Pool loan k from lt.start to exit (``lt``: rp.new_terms / rp.tape_terms); returns
    (month, receipt, kind, proceeds, cap bound); see ``_core.walk_loan``."""
    lev, j, L, ltv, z = pool.lev, pool.suburb[k], pool.size[k], pool.ltv[k], pool.zone[k]
    nav_loans, cost_at = f.nav_loans, f.cost_at
    V0 = L / ltv
    m0, s0 = lt.m0, lt.start
    inv0 = lt.r0 / lev[s0, j]
    hd0 = tab.default_rate[z]
    hdc = tab.default_rate[z] * p["default_mult"]
    hsa = p["sale_hazard"] * p["sale_mult"]
    hrb = p["refi_hazard"] * p["refi_mult"]
    M = p["months"]
    mat = lt.mat
    last = min(mat, M)
    ms = np.arange(s0 + 1, last + 1)
    tau = ms - m0
    ratio = lev[ms, j] * inv0
    claim = claim_value(p, tab, lt, L, V0, ratio, tau)
    gain = ratio - 1.0
    hm = tab.hazard_mult[ms]
    hd = np.where(gain < 0.0, hd0 - hdc * gain, hd0)
    if lt.junior:
        hd = rc.junior_default_hazard(tab, lt, hd0, hdc, V0, ratio, claim,
                                      rc.senior_at(tab, lt, 0) + ltv, tau)
    hd = hd * hm[:, 2]
    held = tau >= p["min_hold_months"]
    with np.errstate(divide="ignore", invalid="ignore"):  # months after the exit may be junk
        lv = claim / (V0 * ratio)
    hs = np.where(held, np.where(gain > 0.0, p["sale_hazard"] + hsa * gain, p["sale_hazard"])
                  * hm[:, 0], 0.0)
    hr = np.where(held, np.where(lv < p["refi_threshold"],
                                 p["refi_hazard"] + hrb * (p["refi_threshold"] - lv),
                                 p["refi_hazard"]) * hm[:, 1], 0.0)
    hr = np.where(tau < p["buyout_months"], 0.0, hr)
    ht = hs + hr + hd
    H = np.cumsum(ht)
    hit = np.flatnonzero((ht > 0.0) & (H >= 12.0 * pool.e_exit[k]))
    if hit.size:
        i = hit[0]
        x = pool.u_cause[k] * ht[i]
        kind = ExitKind.SALE if x < hs[i] else (ExitKind.REFI if x < hs[i] + hr[i] else ExitKind.DEFAULT)
    else:
        i = ms.size - 1
        kind = ExitKind.MATURITY if last == mat else ExitKind.LIQUIDATION
    m = int(ms[i])
    nav_loans[s0] += claim_value(p, tab, lt, L, V0, lt.r0, s0 - m0) if lt.seasoned else L
    cost_at[s0] += L
    nav_loans[s0 + 1:m] += claim[:i]
    cost_at[s0 + 1:m] += L
    tau_e = m - m0
    walk = (m - s0) / 12.0
    s2 = p["home_sigma"] * p["home_sigma"]
    hh = exp_values(p["home_sigma"] * np.sqrt(walk) * pool.z_home[k][0] - 0.5 * s2 * walk)
    v_exit = np.array(lev[m, j] * inv0 * hh)
    claim_e = float(claim_value(p, tab, lt, L, V0, v_exit, tau_e))
    bound = rc.cap_binds(p, tab, lt, claim_formula(p, tab, lt, L, V0, v_exit, tau_e), L, tau_e)
    r = m
    if kind == ExitKind.DEFAULT:
        r = min(m + p["foreclosure_lag"], M)
        proceeds = foreclose(p, tab, lt, pool, k, m, r, claim_e, inv0, hh, f)
    elif kind == ExitKind.LIQUIDATION:
        proceeds = claim_e * (1.0 - p["liquidation_discount"])
    else:
        proceeds = claim_e
    return m, r, int(kind), float(proceeds), bound


def foreclose(p, tab, lt, pool, k, m, r, claim, inv0, hh, f):
    """Recovery ($) of a default in month m at month r, and the loan's value in m..r-1; see
    ``_core.foreclose``."""
    lev, j, L, m0 = pool.lev, pool.suburb[k], pool.size[k], lt.m0
    V0 = L / pool.ltv[k]
    rec = tab.recovery[pool.zone[k]]
    s2 = p["home_sigma"] * p["home_sigma"]
    hh2 = hh * exp_values(p["home_sigma"] * np.sqrt((r - m) / 12.0) * pool.z_home[k][1]
                      - 0.5 * s2 * (r - m) / 12.0)
    vr = V0 * (lev[r, j] * inv0) * hh2
    q = np.arange(m, r)
    f.nav_loans[m:r] += np.minimum(claim, rc.net_of_senior(
        tab, lt, V0, V0 * (lev[q, j] * inv0) * (1.0 - p["foreclosure_cost"]), q - m0)) * rec
    f.cost_at[m:r] += L
    return min(claim, rc.net_of_senior(tab, lt, V0, vr * (1.0 - p["foreclosure_cost"]),
                                       r - m0)) * rec


def _owed_between(tab, basis, m, h):
    """Fees and expenses due in months m+1..h; see ``_core.owed_between``."""
    return (basis * (tab.rate_cum[h + 1] - tab.rate_cum[m + 1]) / 12.0
            + (tab.expense_cum[h + 1] - tab.expense_cum[m + 1]))


def calendar(fee_rate, expense, dist_mask, rate_cum, expense_cum, next_dist):
    """Running sums and next distribution month; see ``_core.calendar``."""
    fee_rate, expense, dist_mask = (np.asarray(a) for a in (fee_rate, expense, dist_mask))
    N = fee_rate.size
    rate_cum[0] = expense_cum[0] = 0.0
    for m in range(N):
        rate_cum[m + 1] = rate_cum[m] + fee_rate[m]
        expense_cum[m + 1] = expense_cum[m] + expense[m]
    nxt = N - 1
    for m in range(N - 1, -1, -1):
        next_dist[m] = nxt
        if dist_mask[m] or m == N - 1:
            nxt = m
    next_dist[N - 1] = N - 1


def run_ledger(p, inp, out):
    """Month-by-month fund ledger per scenario; see ``_core.run_ledger``."""
    levered = bool(p["nav_on"] or p["sub_on"])  # else lever is read-only zeros (LedgerRun.empty)
    check_ledger_shapes(p["months"], p["n_tiers"], inp, out, p["start"], p["n_tape"], levered)
    N = p["months"] + 1
    tab = SimpleNamespace(**{name: np.asarray(getattr(inp, name)) for name in TABLES})
    tab.rate_cum, tab.expense_cum = np.zeros((2, N + 1))
    tab.next_dist = np.empty(N, dtype=np.intc)
    calendar(tab.fee_rate, tab.expense, tab.dist_mask, tab.rate_cum, tab.expense_cum,
             tab.next_dist)
    S = np.asarray(inp.size).shape[0]
    for s in range(S):
        pool = SimpleNamespace(**{name: np.asarray(getattr(inp, name)[s]) for name in POOL},
                               lev=np.asarray(inp.levels[s]))
        o = SimpleNamespace(ledger=out.ledger[s], debt=out.debt_flows[s], lever=out.lever[s],
                            opening=out.opening[s:s + 1],
                            **{name: getattr(out, name)[s] for name in LOANS})
        o.ledger[:] = o.debt[:] = 0.0
        if levered:
            o.lever[:] = 0.0
        for name in LOANS:
            getattr(o, name)[:] = LOAN_START.get(name, -1)  # months: -1, never made
        out.pool_exhausted[s] = ledger_one(p, tab, pool, o)


TABLES = ("schedule", "fee_rate", "expense", "dist_mask", "default_rate", "recovery", "tier_thr",
          "tier_share", "cap_factor", "tranche_size", "tranche_rate_m", "hazard_mult", "mult_up",
          "mult_down", "senior_factor", "tape_orig", "tape_ratio", "tape_rate", "tape_share",
          "tape_maturity", "tape_default", "tape_ctype", "tape_mult", "tape_risk_adj", "tape_cap",
          "tape_senior", "amort")
POOL = ("size", "ltv", "zone", "suburb", "e_exit", "u_cause", "z_home")
LOANS = ("orig_month", "exit_month", "receipt_month", "exit_type", "reinvested", "proceeds",
         "cap_bound")
LOAN_START = {"exit_type": ExitKind.NONE, "reinvested": 0, "proceeds": 0.0, "cap_bound": 0}


def ledger_one(p, tab, pool, o):
    """One scenario of run_ledger; returns 1 if the loan pool ran out."""
    N = p["months"] + 1
    f = _Fund(N, len(tab.tranche_size))
    f.m, f.cash, f.called = p["start"], p["open_cash"], p["open_called"]
    rp.seat_tape(p, tab, pool, f, o, walk_loan, foreclose, claim_value)
    f.k = p["n_tape"]
    f.cost_prev = f.cost_at[p["start"]]
    f.nav_prev = f.cash + f.nav_loans[p["start"]]
    o.opening[0] = f.nav_prev
    for m in range(p["start"], N):
        f.m = m
        receive(p, f, o)
        rl.lever_charge(p, f, o)
        charge(p, tab, f, o)
        rl.covenant(p, f, o)
        rl.sub_repay_due(p, f, o)
        originate(p, tab, pool, f, o)
        distribute(p, tab, f, o)
        mark(p, tab, f, o)
    return f.exhausted


def receive(p, f, o):
    """1. Proceeds arrive; see ``_core.receive``."""
    m = f.m
    f.cash += f.proc_at[m]
    o.ledger[COL["proceeds"], m] = f.proc_at[m]
    f.earmark = f.earmark + p["reinvest_rate"] * f.prin_at[m] if m < p["reinvest_end"] else 0.0


def charge(p, tab, f, o):
    """2. Fees, expenses, disposition fees, debt interest and arrears; see ``_core.charge``."""
    m, M = f.m, p["months"]
    mfee = 0.0
    if m < M:
        f.basis = (p["fund_size"], f.cost_prev, max(f.nav_prev, 0.0))[p["fee_basis"]]
        mfee = tab.fee_rate[m] / 12.0 * f.basis
    interest = 0.0
    for t in range(len(tab.tranche_size)):
        x = f.debt_out[t] * tab.tranche_rate_m[t]
        o.debt[t, m] += x
        interest += x
    o.ledger[COL["management_fees"], m] = mfee
    o.ledger[COL["expenses"], m] = tab.expense[m]
    o.ledger[COL["transaction_fees"], m] += f.disp_at[m]
    o.ledger[COL["debt_service"], m] += interest
    o.ledger[COL["debt_interest"], m] += interest
    need = f.arrears + mfee + tab.expense[m] + f.disp_at[m] + interest
    if p["nav_on"] or p["sub_on"]:  # the facilities' commitment fees (rl.lever_charge)
        o.ledger[COL["debt_service"], m] += f.fac_fees
        o.ledger[COL["debt_interest"], m] += f.fac_fees
        need += f.fac_fees
    f.arrears = fund_need(p, f, tab, o, need, p["fund_size"], p["nav_on"] and not p["nav_deploy"],
                          0.0)
    o.ledger[COL["fees_paid"], m] += need - f.arrears


def originate(p, tab, pool, f, o):
    """3. New loans while budget and capital allow; see ``_core.originate``."""
    m = f.m
    if m >= p["months"]:
        return
    f.sched = f.sched + tab.schedule[m] if m < p["deploy_end"] else 0.0
    while True:
        k = f.k
        if k == len(pool.size):
            if f.sched + f.earmark >= p["min_loan_size"]:
                f.exhausted = 1
            break
        L = pool.size[k]
        if L > f.sched + f.earmark:
            break
        V0 = L / pool.ltv[k]
        net = L * (1.0 - p["fee_in_rate"]) + p["acquisition_rate"] * V0
        avail = f.cash + max(p["origination_cap"] - f.called - f.sub_out, 0.0)
        for t in range(len(tab.tranche_size)):
            avail += tab.tranche_size[t] - f.debt_out[t]
        if p["nav_deploy"]:
            avail += rl.nav_headroom(p, f, L)
        if net > avail:
            break
        fund_need(p, f, tab, o, net, p["origination_cap"], p["nav_deploy"], L)
        use_e = min(f.earmark, L)
        f.earmark -= use_e
        f.sched -= L - use_e
        o.reinvested[k] = 1 if use_e >= 0.5 * L else 0
        o.ledger[COL["advances"], m] += L
        o.ledger[COL["fee_income"], m] += L * p["fee_in_rate"]
        o.ledger[COL["transaction_fees"], m] += p["acquisition_rate"] * V0
        o.ledger[COL["fees_paid"], m] += p["acquisition_rate"] * V0
        rp.book_loan(p, f, o, k, L, m, walk_loan(p, tab, pool, k, rp.new_terms(p, tab, pool, k, m),
                                                 f))
        f.k = k + 1


def distribute(p, tab, f, o):
    """4. Hold back, repay debt, pay out; see ``_core.distribute``."""
    m, M = f.m, p["months"]
    if not (tab.dist_mask[m] or m == M):
        return
    hold = 0.0
    if m == M:
        f.earmark = 0.0
    else:
        owed = max(_owed_between(tab, f.basis, m, tab.next_dist[m]),
                   _owed_between(tab, f.basis, m, M) - f.nav_loans[m])
        hold = max(np.ceil(100.0 * max(owed - max(p["fund_size"] - f.called - f.sub_out, 0.0),
                                       0.0) - CENT_SLACK), 0.0) / 100.0
    free = f.cash - f.earmark - hold
    if p["nav_on"] or p["sub_on"]:
        free = rl.repay_lenders(p, f, o, free)
    for t in range(len(tab.tranche_size)):
        if free <= 0.0:
            break
        x = min(free, f.debt_out[t])
        f.debt_out[t] -= x
        o.debt[t, m] += x
        o.ledger[COL["debt_service"], m] += x
        f.cash -= x
        free -= x
    if free > 0.0:
        o.ledger[COL["distributions"], m] = free
        f.cash -= free


def mark(p, tab, f, o):
    """5. Month-end NAV, invested capital, arrears, cash, balances; see ``_core.mark``."""
    m = f.m
    debt_total = 0.0
    for t in range(len(tab.tranche_size)):
        debt_total += f.debt_out[t]
    if p["nav_on"] or p["sub_on"]:
        debt_total += f.nav_out + f.sub_out
        o.lever[LEV["nav_balance"], m], o.lever[LEV["sub_balance"], m] = f.nav_out, f.sub_out
    o.ledger[COL["nav"], m] = f.cash + f.nav_loans[m] - debt_total - f.arrears
    o.ledger[COL["invested_capital"], m] = f.cost_at[m]
    o.ledger[COL["unpaid_fees"], m] = f.arrears
    o.ledger[COL["cash"], m] = f.cash
    f.nav_prev = o.ledger[COL["nav"], m]
    f.cost_prev = f.cost_at[m]


# --------------------------------------------------------------------------- waterfall


def entitlement(profit, pref, catch_up, carry):
    """GP carry on a cumulative LP profit of which ``pref`` is pref; see ``_core.entitlement``."""
    r = profit - pref
    if r <= 0.0:
        return 0.0
    g = 0.0
    if catch_up > carry:
        x = min(r, carry * pref / (catch_up - carry))
        g = catch_up * x
        r = r - x
    return g + carry * r


def carry_cap(npv, called, entitled, offset_fees):
    """Most carry kept at fund end; see ``_core.carry_cap``."""
    if npv < -1e-9 * max(called, 1.0):
        return 0.0
    return max(entitled - offset_fees, 0.0)


def _settle(over, clawback, lp_row, gp_row):
    """Claw ``over`` back in the last month (returns 0), or return it as excess carry; see
    ``_core.settle``."""
    if over <= 0.0:
        return 0.0
    if not clawback:
        return over
    gp_row[-1] -= over
    lp_row[-1] += over
    return 0.0


def waterfall_european(calls, dist, fees, lp_share, growth_m, catch_up, carry, offset, clawback,
                       lp_dist, gp_carry, excess):
    """Whole-fund waterfall with true-up and clawback; see ``_core.waterfall_european``."""
    calls, dist, fees = (np.asarray(a) for a in (calls, dist, fees))
    S, N = calls.shape
    for s in range(S):
        C = P = pref = Dcum = Ccum = paid = fcum = npv = 0.0
        disc = 1.0
        for m in range(N):
            if m > 0:
                accr = (C + P) * (growth_m - 1.0)
                P = P + accr
                pref = pref + accr
            C = C + lp_share * calls[s, m]
            Ccum = Ccum + lp_share * calls[s, m]
            fcum = fcum + fees[s, m]
            D = lp_share * dist[s, m]
            npv = npv + (D - lp_share * calls[s, m]) * disc
            disc = disc / growth_m
            gp = 0.0
            if D > 0.0:
                x = min(D, C)
                C = C - x
                P = P - min(D - x, P)
                Dcum = Dcum + D
                x = entitlement(Dcum - Ccum, pref, catch_up, carry)
                gp = min(max(max(x - offset * fcum, 0.0) - paid, 0.0), D)
                paid = paid + gp
            lp_dist[s, m] = D - gp
            gp_carry[s, m] = gp
        over = paid - carry_cap(npv, Ccum, entitlement(Dcum - Ccum, pref, catch_up, carry),
                                offset * fcum)
        excess[s] = _settle(over, clawback, lp_dist[s], gp_carry[s])


def waterfall_american(calls, dist, fees, orig, receipt, adv, proceeds, lp_share, growth_m,
                       catch_up, carry, offset, clawback, lp_dist, gp_carry, excess):
    """Deal-by-deal waterfall with loss netting and clawback; see ``_core.waterfall_american``."""
    calls, dist, fees, orig, receipt, adv, proceeds = (
        np.asarray(a) for a in (calls, dist, fees, orig, receipt, adv, proceeds))
    S, N = calls.shape
    for s in range(S):
        made = np.flatnonzero(orig[s] >= 0)
        made = made[np.argsort(receipt[s, made], kind="stable")]
        by_month: dict[int, list[int]] = {}
        for deal in made:
            by_month.setdefault(int(receipt[s, deal]), []).append(int(deal))
        loss = ent = paid = fcum = called = total_d = npv = 0.0
        disc = 1.0
        for m in range(N):
            fcum = fcum + fees[s, m]
            called = called + lp_share * calls[s, m]
            npv = npv + (lp_share * dist[s, m] - lp_share * calls[s, m]) * disc
            disc = disc / growth_m
            for k in by_month.get(m, ()):
                c = lp_share * adv[s, k]
                pi = lp_share * proceeds[s, k] - c
                if pi <= 0.0:
                    loss = loss - pi
                    continue
                pref = c * (int_pow(growth_m, receipt[s, k] - orig[s, k]) - 1.0)
                x = min(pi, loss)
                loss = loss - x
                a = pi - x
                x = min(a, pref)
                a = a - x
                e = 0.0
                if a > 0.0 and catch_up > carry:
                    x = min(a, carry * x / (catch_up - carry))
                    e = e + catch_up * x
                    a = a - x
                ent = ent + e + carry * a
            D = lp_share * dist[s, m]
            total_d = total_d + D
            gp = 0.0
            if D > 0.0:
                gp = min(max(max(ent - offset * fcum, 0.0) - paid, 0.0), D)
                paid = paid + gp
            lp_dist[s, m] = D - gp
            gp_carry[s, m] = gp
        over = paid - carry_cap(npv, called, carry * (total_d - called), offset * fcum)
        excess[s] = _settle(over, clawback, lp_dist[s], gp_carry[s])


def lp_metrics(ledger, lp_calls, lp_dist, gp_carry, lp_share, fund_size, scalars, cum_lp, yearly):
    """Per-scenario LP metrics, running sums in month order; see ``_core.lp_metrics``."""
    nav = ledger[:, COL["nav"]]
    cc, cd = np.cumsum(lp_calls, axis=1), np.cumsum(lp_dist, axis=1)
    cl = np.cumsum(lp_dist - lp_calls, axis=1)
    pnl = nav + np.cumsum(ledger[:, COL["distributions"]] - ledger[:, COL["calls"]], axis=1)
    N = cl.shape[1]
    neg = cl < 0.0
    last_neg = np.where(neg.any(axis=1), N - 1 - np.argmax(neg[:, ::-1], axis=1), -1)
    scalars[:, 0] = cc[:, -1]
    scalars[:, 1] = _ratio(cd[:, -1], cc[:, -1])
    scalars[:, 2] = _ratio(lp_share * nav[:, -1], cc[:, -1])
    scalars[:, 3] = np.where(last_neg == N - 1, np.nan, last_neg + 1.0)
    scalars[:, 4] = np.max(np.maximum.accumulate(pnl, axis=1) - pnl, axis=1) / fund_size
    scalars[:, 5] = np.cumsum(gp_carry, axis=1)[:, -1]
    cum_lp[...] = cl
    yearly[0] = cl[:, ::12]
    yearly[1] = _ratio(cd[:, ::12], cc[:, ::12])
    yearly[2] = _ratio(lp_share * nav[:, ::12], cc[:, ::12])


def _ratio(num, den):
    """num / den where den > 0 (inf when a tiny den overflows it), else NaN."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(den > 0.0, num / np.where(den > 0.0, den, 1.0), np.nan)
