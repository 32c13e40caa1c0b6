"""Write ``examples/loan_tape.csv``: a synthetic tape of the fund's own book (500 loans).

    python scripts/make_loan_tape.py [--loans 500] [--seed 7] [--as-of 2025-06] [--out PATH]

Loans originated over the three years before as_of, advances of about $400k at LTV 0.15-0.65,
zones 45/35/20 % green/orange/red in 30 named suburbs, a few with their own share, rate, term,
current value or contract terms; 2 % defaulted and 3 % exited. Synthetic: no real borrower.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path

import numpy as np

COLUMNS = ("loan_id", "origination_date", "advance", "origination_value", "zone", "suburb",
           "appreciation_share", "interest_rate", "term_years", "current_value", "status",
           "default_date", "contract_type", "multiple", "risk_adjustment", "cap_rate",
           "lien_position", "senior_balance")
SUBURBS = {"green": ["Ashgrove", "Bardon", "Clayfield", "Hawthorne", "Kenmore", "Paddington",
                     "Red Hill", "Toowong", "Wilston", "Yeronga"],
           "orange": ["Carina", "Everton Park", "Geebung", "Holland Park", "Mitchelton",
                      "Moorooka", "Nundah", "Salisbury", "Stafford", "Tarragindi"],
           "red": ["Acacia Ridge", "Bracken Ridge", "Darra", "Durack", "Inala", "Logan Central",
                   "Oxley", "Richlands", "Wacol", "Woodridge"]}


def rows(n: int, seed: int, as_of: dt.date) -> list[dict]:
    """``n`` synthetic loans as CSV rows (text cells; empty = not given)."""
    g = np.random.default_rng(seed)
    out = []
    for i in range(n):
        zone = str(g.choice(["green", "orange", "red"], p=[0.45, 0.35, 0.20]))
        start = as_of - dt.timedelta(days=int(g.integers(30, 3 * 365)))
        advance = float(np.clip(round(g.normal(400_000, 100_000), -3), 50_000, 1_000_000))
        ltv = float(np.clip(g.normal(0.40, 0.10), 0.15, 0.65))
        row = {c: "" for c in COLUMNS}
        row.update(loan_id=f"EQ-{i + 1:05d}", origination_date=start.isoformat(),
                   advance=f"{advance:.0f}", origination_value=f"{advance / ltv:.0f}", zone=zone,
                   suburb=str(g.choice(SUBURBS[zone])))
        u = g.random()
        if u < 0.02:
            row.update(status="defaulted", default_date=(
                start + (as_of - start) * float(g.uniform(0.3, 0.9))).isoformat())
        elif u < 0.05:
            row["status"] = "exited"
        if g.random() < 0.10:
            row["current_value"] = f"{advance / ltv * g.uniform(0.9, 1.25):.0f}"
        if g.random() < 0.05:
            row.update(appreciation_share="0.35", interest_rate="0.055", term_years="15")
        if g.random() < 0.05:
            row.update(contract_type="appreciation_share", multiple="2.0", risk_adjustment="0.1",
                       cap_rate="0.18", lien_position="2",
                       senior_balance=f"{advance / ltv * 0.3:.0f}")
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loans", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--as-of", default="2025-06-30")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                         / "examples" / "loan_tape.csv"))
    a = ap.parse_args()
    data = rows(a.loans, a.seed, dt.date.fromisoformat(a.as_of))
    with open(a.out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(data)
    print(f"wrote {len(data)} loans to {a.out}")


if __name__ == "__main__":
    main()
