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

#: Traffic-light zones, in the order every per-zone array uses.
ZONES = ("green", "orange", "red")


def zone_array(values) -> np.ndarray:
    """Per-zone config values (an object with green/orange/red) as a float array."""
    import numpy as np

    return np.array([float(getattr(values, z)) for z in ZONES])
