"""Stage 5, fee_engine: what the fund pays its manager and its expenses.

Before the run it lays out, per month 0..M, the management-fee rate (annual, with the
per-year schedule overrides) and the expenses in $ (percentage and fixed, escalating
yearly, plus the setup costs in month 0); the ledger charges them month by month on the
chosen basis (what cannot be paid becomes an arrear, paid first from the next cash in; cash
is held back before each distribution for what falls due). After the ledger it sums, per
scenario, what was charged, what was paid, what is still owed at fund end and what the GP
earned outside the carry.
"""

from __future__ import annotations

import numpy as np

from equihome.io.config import FundConfig
from equihome.model.fixed_math import int_pow
from equihome.model.layout import COL

FEE_BASES = {"committed_capital": 0, "invested_capital": 1, "net_asset_value": 2}


def fee_rates(cfg: FundConfig) -> np.ndarray:
    """Annual management-fee rate in force in each month 0..M (0 in month M)."""
    fe = cfg.fee_engine
    M = cfg.months
    years = np.arange(M + 1) // 12
    sched = np.asarray(fe.management_fee_schedule, dtype=float)
    rates = np.full(M + 1, float(fe.management_fee_rate))
    has = years < sched.size
    rates[has] = sched[years[has]]
    rates[M] = 0.0
    return rates


def expenses(cfg: FundConfig) -> np.ndarray:
    """Fund expenses in $ charged in each month 0..M: setup in month 0, none in month M."""
    fe = cfg.fee_engine
    M = cfg.months
    yearly = fe.annual_fund_expenses * cfg.fund_size + fe.fixed_annual_expenses
    out = yearly * int_pow(1.0 + fe.expense_growth_rate, np.arange(M + 1) // 12) / 12.0
    out[M] = 0.0
    out[0] += fe.setup_costs
    return out


def fee_in_rate(cfg: FundConfig) -> float:
    """Share of each advance the fund keeps as origination fee (0 when the GP keeps it)."""
    return cfg.origination_fee_rate if cfg.origination_fee_recipient == "fund" else 0.0


def summarise(cfg: FundConfig, ledger: np.ndarray) -> dict[str, np.ndarray]:
    """Per-scenario fee totals ($): charged, paid (fees, expenses, transaction fees and debt
    interest), still owed at fund end, and earned by the GP outside carry."""
    mgmt = ledger[:, COL["management_fees"]].sum(axis=1)
    txn = ledger[:, COL["transaction_fees"]].sum(axis=1)
    gp_orig = (cfg.origination_fee_rate - fee_in_rate(cfg)) * ledger[:, COL["advances"]].sum(axis=1)
    return {
        "management_fees": mgmt,
        "fund_expenses": ledger[:, COL["expenses"]].sum(axis=1),
        "transaction_fees": txn,
        "gp_fee_income": mgmt + txn + gp_orig,
        "fees_paid": ledger[:, COL["fees_paid"]].sum(axis=1),
        "unpaid_fees": ledger[:, COL["unpaid_fees"], -1],
    }
