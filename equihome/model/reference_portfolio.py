"""Numpy twins of the seasoned-loan kernels of ``_ledger.pxi`` (new_terms, tape_terms,
seat_tape, book_loan), beside ``reference.py``'s walk_loan and foreclose that they call."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from equihome.model import reference_contracts as rc
from equihome.model.layout import ExitKind, base_share

DT = 1.0 / 12.0


def fund_share(p, tab, L, ltv):
    """The configured share and the fund's contract; see ``_core.fund_share``."""
    share = base_share(p["share_method"], ltv, p["fixed_share"], tab.tier_share[0])
    return dict(share_v0=share * (L / ltv), tiered=p["share_method"] == 2,
                ctype=p["contract_type"], risk_adj=p["risk_adj"], own=0, mult=0.0,
                cap_rate=np.nan, senior=0.0)


def new_terms(p, tab, pool, k, m):
    """The terms of synthetic pool loan k made in month m; see ``_core.new_terms``."""
    L, ltv = pool.size[k], pool.ltv[k]
    return SimpleNamespace(m0=m, start=m, mat=m + p["loan_term_months"], r0=1.0,
                           accrual=L * p["loan_rate"] * DT, **fund_share(p, tab, L, ltv),
                           junior=rc.is_junior(p, k - p["n_tape"]), seasoned=False)


def tape_terms(p, tab, pool, k):
    """The terms of seasoned loan k; see ``_core.tape_terms``."""
    L, ltv = pool.size[k], pool.ltv[k]
    lt = SimpleNamespace(m0=int(tab.tape_orig[k]), start=p["start"],
                         mat=int(tab.tape_maturity[k]), r0=tab.tape_ratio[k],
                         accrual=L * tab.tape_rate[k] * DT, **fund_share(p, tab, L, ltv),
                         junior=0, seasoned=True)
    if not np.isnan(tab.tape_share[k]):
        lt.share_v0, lt.tiered = tab.tape_share[k] * (L / ltv), False
    if tab.tape_ctype[k] >= 0:
        lt.own, lt.ctype, lt.mult = 1, int(tab.tape_ctype[k]), tab.tape_mult[k]
        lt.risk_adj, lt.cap_rate, lt.senior = tab.tape_risk_adj[k], tab.tape_cap[k], tab.tape_senior[k]
        lt.junior = int(lt.senior > 0.0)
    return lt


def seat_tape(p, tab, pool, f, o, walk_loan, foreclose, claim_value):
    """The tape's loans on the book at E; see ``_core.seat_tape`` (the reference's walk_loan,
    foreclose and claim_value passed in: they live in reference.py)."""
    E, M = p["start"], p["months"]
    for k in range(p["n_tape"]):
        lt = tape_terms(p, tab, pool, k)
        d = int(tab.tape_default[k])
        if d < 0:
            out = walk_loan(p, tab, pool, k, lt, f)
        else:
            L = pool.size[k]
            V0 = L / pool.ltv[k]
            r = min(max(d + p["foreclosure_lag"], E + 1), M)
            claim = float(claim_value(p, tab, lt, L, V0, np.array(lt.r0), d - lt.m0))
            proceeds = foreclose(p, tab, lt, pool, k, E, r, claim,
                                 lt.r0 / pool.lev[E, pool.suburb[k]], 1.0, f)
            out = (d, r, int(ExitKind.DEFAULT), float(proceeds), 0)
        book_loan(p, f, o, k, pool.size[k], lt.m0, out)


def book_loan(p, f, o, k, L, m0, out):
    """Record loan k and schedule its cash; see ``_core.book_loan``."""
    em, r, kind, proceeds, bound = out
    o.orig_month[k], o.exit_month[k], o.receipt_month[k] = m0, em, r
    o.exit_type[k], o.proceeds[k], o.cap_bound[k] = kind, proceeds, bound
    f.proc_at[r] += proceeds
    f.prin_at[r] += min(L, proceeds)
    f.disp_at[r] += p["disposition_rate"] * proceeds
