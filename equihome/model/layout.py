"""Names shared by the kernels and the Python stages: ledger columns and exit kinds."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

#: Rows of the per-scenario ledger (S, len(LEDGER_COLUMNS), M+1), all in $ per month.
#: calls/distributions are equity; nav is end of month; unpaid_fees is the running arrears
#: balance; invested_capital is the cost of live loans at month end; cash is cash on hand
#: at month end; fees_paid is what was paid of the charges (management fees, expenses,
#: transaction fees, debt interest, arrears) in the month; debt_interest is the interest
#: charged. Charged = paid + unpaid: management_fees + expenses + transaction_fees +
#: debt_interest summed over the life = fees_paid summed + unpaid_fees at month M.
LEDGER_COLUMNS = (
    "calls", "distributions", "nav", "advances", "proceeds", "management_fees",
    "expenses", "transaction_fees", "fee_income", "debt_draws", "debt_service",
    "unpaid_fees", "invested_capital", "cash", "fees_paid", "debt_interest",
)
COL = {name: i for i, name in enumerate(LEDGER_COLUMNS)}

#: Rows of the per-scenario facility record (S, len(LEVER_ROWS), M+1) (DOMAIN.md "Leverage"),
#: $ per month unless noted: draws include capitalised interest and fees; repaid is principal
#: (by cash, or by a capital call on the line); interest and fees are charged (paid, called or
#: capitalised); balances are month-end $; covenant_breach is 1 in a month the NAV facility's
#: drawn / fair value passed ltv_covenant; lender_loss ($, month M) is what the book could not
#: repay. The facilities' cash also sits in the ledger's debt columns.
LEVER_ROWS = (
    "nav_draws", "nav_repaid", "nav_interest", "nav_fees", "nav_balance", "nav_capitalised",
    "sub_draws", "sub_repaid", "sub_interest", "sub_fees", "sub_balance", "covenant_breach",
    "lender_loss",
)
LEV = {name: i for i, name in enumerate(LEVER_ROWS)}


class ExitKind(IntEnum):
    """How a loan left the book (stored as int8 per loan)."""

    NONE = 0
    SALE = 1
    REFI = 2
    DEFAULT = 3
    MATURITY = 4
    LIQUIDATION = 5


#: Names used in results for the exit mix (index = ExitKind value).
EXIT_NAMES = ("none", "sale", "refinance", "default", "maturity", "liquidation")

#: appreciation_share_method codes of the ledger kernel.
SHARE_METHODS = {"pro_rata_ltv": 0, "fixed": 1, "tiered": 2}

#: Traffic-light zones, in the order every per-zone array uses.
ZONES = ("green", "orange", "red")


def zone_array(values) -> np.ndarray:
    """Per-zone config values (an object with green/orange/red) as a float array."""
    return np.array([float(getattr(values, z)) for z in ZONES])


def base_share(method: int, ltv, fixed_share: float, first_tier_share: float):
    """A loan's share of a price change outside the tier table ($ of gain per $ of value):
    its LTV (method 0, pro_rata_ltv), the fixed share (1) or the first tier's share (2,
    tiered: used for the downside with share_depreciation). ``ltv`` may be an array."""
    return ltv if method == 0 else (first_tier_share if method == 2 else fixed_share)


def check_ledger_shapes(months: int, n_tiers: int, inp, out, start: int = 0,
                        n_tape: int = 0, levered: bool = False) -> None:
    """Raise ValueError unless every ledger-kernel array has the shape the kernel assumes
    (and, for a fund with a facility, ``levered``, lever rows it can write).

    ``inp``/``out``: an exit_simulator.LedgerInputs and LedgerRun. Called by both kernel
    sets before any work (the Cython kernel then runs on raw pointers without the GIL).
    """
    S, K = inp.size.shape
    N, J, NT = months + 1, inp.levels.shape[2], inp.tranche_size.shape[0]
    want = {
        "ltv": (S, K), "zone": (S, K), "suburb": (S, K), "e_exit": (S, K), "u_cause": (S, K),
        "z_home": (S, K, 2), "levels": (S, N, J), "schedule": (N,), "fee_rate": (N,),
        "expense": (N,), "dist_mask": (N,), "cap_factor": (N,), "hazard_mult": (N, 3),
        "tier_thr": (n_tiers + 1,),
        "tier_share": (n_tiers + 1,), "default_rate": (len(ZONES),),
        "recovery": (len(ZONES),), "tranche_rate_m": (NT,),
        "ledger": (S, len(LEDGER_COLUMNS), N), "debt_flows": (S, NT, N), "orig_month": (S, K),
        "exit_month": (S, K), "receipt_month": (S, K), "exit_type": (S, K),
        "reinvested": (S, K), "proceeds": (S, K), "pool_exhausted": (S,),
        "mult_up": (N,), "mult_down": (N,), "senior_factor": (N,), "cap_bound": (S, K),
        "lever": (S, len(LEVER_ROWS), N), "opening": (S,), "amort": (N,),
    }
    for name, shape in want.items():
        got = getattr(inp, name) if hasattr(inp, name) else getattr(out, name)
        if tuple(np.shape(got)) != shape:
            raise ValueError(f"run_ledger: {name} has shape {tuple(np.shape(got))}, "
                             f"expected {shape}")
    if levered and not out.lever.flags.writeable:
        raise ValueError("run_ledger: lever is read-only (LedgerRun.empty(levered=False)), "
                         "but the fund has a facility whose rows it must write")
    check_tape(months, start, n_tape, inp)
    if S * K and (np.max(inp.suburb) >= J or np.max(inp.zone) >= len(ZONES)
                  or min(np.min(inp.suburb), np.min(inp.zone)) < 0):
        raise ValueError("run_ledger: a zone or suburb index is out of range")


def check_tape(months: int, start: int, n_tape: int, inp) -> None:
    """Raise ValueError unless the seasoned-loan tables (T,) fit the pool and the calendar:
    T = n_tape loans at the front of the pool, 0 <= origination <= E = start < M, maturity
    after E, a default month between origination and E (or -1)."""
    T = np.shape(inp.tape_orig)[0]
    for name in ("tape_ratio", "tape_rate", "tape_share", "tape_maturity", "tape_default",
                 "tape_ctype", "tape_mult", "tape_risk_adj", "tape_cap", "tape_senior"):
        if np.shape(getattr(inp, name)) != (T,):
            raise ValueError(f"run_ledger: {name} has shape {np.shape(getattr(inp, name))}, "
                             f"expected ({T},)")
    if T != n_tape or T > np.shape(inp.size)[1] or not 0 <= start < months:
        raise ValueError(f"run_ledger: {T} seasoned loans (n_tape {n_tape}) in a pool of "
                         f"{np.shape(inp.size)[1]}, as_of month {start} of {months}")
    orig, mat, dflt = (np.asarray(getattr(inp, n)) for n in
                       ("tape_orig", "tape_maturity", "tape_default"))
    if T and (orig.min() < 0 or orig.max() > start or mat.min() <= start
              or ((dflt >= 0) & ((dflt < orig) | (dflt > start))).any() or dflt.min() < -1
              or not (np.asarray(inp.tape_ratio) > 0).all()
              or not np.isin(np.asarray(inp.tape_ctype), (-1, 0, 1, 2)).all()):
        raise ValueError("run_ledger: a seasoned loan's months or value are out of range")
