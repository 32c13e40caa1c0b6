"""Numpy twins of the ledger's funding and facility steps (``_ledger.pxi`` fund_need, and
``_leverage.pxi``: lever_charge, covenant, sub_repay_due, repay_lenders), beside
``reference.py``'s ledger that calls them. Same order of arithmetic as the Cython code."""

from __future__ import annotations

import numpy as np

from equihome.model.layout import COL, LEV


class _Fund:
    """The running state of one scenario's fund (``_core.pxd``'s Fund, field for field)."""

    def __init__(self, N, NT):
        self.m = self.k = self.exhausted = self.sub_head = self.breach = 0
        self.cash = self.called = self.arrears = self.earmark = self.sched = 0.0
        self.basis = self.nav_prev = self.cost_prev = self.nav_out = self.sub_out = 0.0
        self.fac_fees = 0.0
        self.proc_at, self.prin_at, self.nav_loans, self.cost_at, self.disp_at = np.zeros((5, N))
        self.sub_due = np.zeros(N)
        self.debt_out = np.zeros(NT)


def in_window(p, m):
    """True if the NAV facility may lend in month m."""
    return p["nav_win_start"] <= m < p["nav_win_end"]


def nav_headroom(p, f, extra):
    """$ the NAV facility can still lend; see ``_core.nav_headroom``."""
    if not p["nav_on"] or not in_window(p, f.m) or f.breach:
        return 0.0
    return max(min(p["nav_adv"] * (f.nav_loans[f.m] + extra), p["nav_limit"]) - f.nav_out, 0.0)


def nav_draw(f, o, d):
    """Draw $d on the NAV facility; see ``_core.nav_draw``."""
    f.nav_out += d
    o.lever[LEV["nav_draws"], f.m] += d
    o.ledger[COL["debt_draws"], f.m] += d


def sub_draw(f, o, d):
    """Draw $d on the subscription line; see ``_core.sub_draw``."""
    f.sub_out += d
    f.sub_due[f.m] += d
    o.lever[LEV["sub_draws"], f.m] += d
    o.ledger[COL["debt_draws"], f.m] += d


def line_room(p, f):
    """$ the line can still lend; see ``_core.line_room``."""
    return max(p["sub_frac"] * (p["fund_size"] - f.called) - f.sub_out, 0.0)


def fund_need(p, f, tab, o, amount, cap, use_nav, extra):
    """Pay ``amount``; return the part that could not be paid; see ``_core.fund_need``."""
    use = min(f.cash, amount)
    f.cash -= use
    amount -= use
    for t in range(len(tab.tranche_size)):
        if amount <= 0.0:
            break
        d = min(amount, tab.tranche_size[t] - f.debt_out[t])
        if d > 0.0:
            f.debt_out[t] += d
            o.ledger[COL["debt_draws"], f.m] += d
            o.debt[t, f.m] -= d
            amount -= d
    if amount > 0.0:
        d = min(amount, max(cap - f.called - f.sub_out, 0.0))
        if p["sub_on"]:
            x = min(d, line_room(p, f))
            sub_draw(f, o, x)
            d -= x
            amount -= x
        f.called += d
        o.ledger[COL["calls"], f.m] += d
        amount -= d
    if amount > 0.0 and use_nav:
        d = min(amount, nav_headroom(p, f, extra))
        nav_draw(f, o, d)
        amount -= d
    return max(amount, 0.0)


def _lender_paid(o, m, x):
    """Facility interest of $x charged and paid; see ``_core.lender_paid``."""
    for name in ("debt_service", "debt_interest", "fees_paid"):
        o.ledger[COL[name], m] += x


def lever_charge(p, f, o):
    """1b. Facility interest, the line's fee; the NAV fee set aside; see ``_core.lever_charge``."""
    m, M = f.m, p["months"]
    f.fac_fees = 0.0
    if p["nav_on"]:
        if m < M and in_window(p, m):
            lim = p["nav_limit"] if p["nav_limit"] < np.inf else p["nav_adv"] * (
                f.nav_loans[m - 1] if m > 0 else 0.0)
            f.fac_fees = p["nav_fee_m"] * max(lim - f.nav_out, 0.0)
            o.lever[LEV["nav_fees"], m] = f.fac_fees
        x = f.nav_out * p["nav_rate_m"]
        o.lever[LEV["nav_interest"], m] = x
        _lender_paid(o, m, x)
        use = min(f.cash, x)
        f.cash -= use
        if x - use > 0.0:
            o.lever[LEV["nav_capitalised"], m] = x - use
            nav_draw(f, o, x - use)
    if p["sub_on"]:
        x = f.sub_out * p["sub_rate_m"]
        o.lever[LEV["sub_interest"], m] = x
        if m < M:
            d = p["sub_fee_m"] * line_room(p, f)
            o.lever[LEV["sub_fees"], m] = d
            x += d
        _lender_paid(o, m, x)
        use = min(f.cash, x)
        f.cash -= use
        x -= use
        d = min(x, max(p["fund_size"] - f.called - f.sub_out, 0.0))
        f.called += d
        o.ledger[COL["calls"], m] += d
        if x - d > 0.0:
            sub_draw(f, o, x - d)


def covenant(p, f, o):
    """2b. Covenant test and cash sweep; see ``_core.covenant``."""
    m = f.m
    f.breach = 0
    if not p["nav_on"] or m >= p["months"] or f.nav_out <= 0.0:
        return
    excess = f.nav_out - p["nav_covenant"] * f.nav_loans[m]
    if excess <= 0.0:
        return
    f.breach = 1
    o.lever[LEV["covenant_breach"], m] = 1.0
    x = min(excess, f.cash)
    f.nav_out -= x
    f.cash -= x
    f.earmark = max(f.earmark - x, 0.0)
    o.lever[LEV["nav_repaid"], m] += x
    o.ledger[COL["debt_service"], m] += x


def line_settle(f):
    """The line's balance: the sum of its draws still owed; see ``_core.line_settle``."""
    x = 0.0
    for q in range(f.sub_head, f.m + 1):
        x += f.sub_due[q]
    f.sub_out = x


def _sub_repaid(f, o, x):
    """Record $x of line principal repaid; see ``_core.sub_repaid``."""
    f.sub_out -= x
    o.lever[LEV["sub_repaid"], f.m] += x
    o.ledger[COL["debt_service"], f.m] += x


def sub_repay_due(p, f, o):
    """2c. The line's due draws called back; see ``_core.sub_repay_due``."""
    m = f.m
    if not p["sub_on"]:
        return
    while f.sub_head < m and f.sub_due[f.sub_head] == 0.0:
        f.sub_head += 1
    due = 0.0
    for q in range(f.sub_head, m + 1):
        if q + p["sub_months"] > m and m < p["months"]:
            break
        due += f.sub_due[q]
        f.sub_due[q] = 0.0
    if due <= 0.0:
        return
    d = min(due, max(p["fund_size"] - f.called - (f.sub_out - due), 0.0))
    f.called += d
    o.ledger[COL["calls"], m] += d
    _sub_repaid(f, o, d)
    due -= d
    d = min(due, f.cash)
    f.cash -= d
    _sub_repaid(f, o, d)
    f.sub_due[m] += due - d
    line_settle(f)


def repay_lenders(p, f, o, free):
    """4a. Lenders repaid before equity; losses written off at M; see
    ``_core.repay_lenders``. Returns the free cash left ($)."""
    m = f.m
    if p["nav_on"] and free > 0.0:
        x = min(free, f.nav_out)
        f.nav_out -= x
        f.cash -= x
        free -= x
        o.lever[LEV["nav_repaid"], m] += x
        o.ledger[COL["debt_service"], m] += x
    if p["sub_on"]:
        for q in range(f.sub_head, m + 1):
            if free <= 0.0:
                break
            x = min(free, f.sub_due[q])
            f.sub_due[q] -= x
            f.cash -= x
            free -= x
            _sub_repaid(f, o, x)
        line_settle(f)
    if m == p["months"]:
        x = 0.0
        for q in range(f.sub_head, m + 1):
            x += f.sub_due[q]
            f.sub_due[q] = 0.0
        o.lever[LEV["lender_loss"], m] = f.nav_out + x
        f.nav_out = f.sub_out = 0.0
    return free
