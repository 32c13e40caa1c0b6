"""The loan tape (DOMAIN.md, "The fund's own book"): reading, every column rule with its
message, all errors at once, unknown columns, duplicate ids, and the sample tape."""

from __future__ import annotations

import csv
import datetime as dt
import sys
import time
from pathlib import Path

import pytest

import equihome
from equihome.io.loan_tape import COLUMNS, MAX_REPORTED, LoanTapeError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_loan_tape  # noqa: E402

GOOD = {"loan_id": "A-1", "origination_date": "2022-06-15", "advance": "250000",
        "origination_value": "600000", "zone": "green"}


def errors_of(rows: list[dict], as_of: str | None = "2025-06") -> list[str]:
    """The messages of the LoanTapeError the rows raise."""
    with pytest.raises(LoanTapeError) as err:
        equihome.load_loan_tape(rows, as_of=as_of)
    return [e["msg"] for e in err.value.errors]


@pytest.mark.parametrize(("cells", "message"), [
    ({"advance": "-5"}, "row 1, advance: must be a number > 0, got '-5'"),
    ({"advance": "lots"}, "row 1, advance: must be a number > 0, got 'lots'"),
    ({"origination_value": "200000"}, "row 1, origination_value: must be > advance (250000), "
                                      "got 200000.0"),
    ({"origination_date": "15/06/2022"},
     "row 1, origination_date: must be a date YYYY-MM-DD, got '15/06/2022'"),
    ({"origination_date": "2025-07-01"},
     "row 1, origination_date: must not be after as_of (2025-06-30), got '2025-07-01'"),
    ({"zone": "blue"}, "row 1, zone: must be one of green, orange, red, got 'blue'"),
    ({"loan_id": ""}, "row 1, loan_id: is required, got ''"),
    ({"appreciation_share": "1.5"}, "row 1, appreciation_share: must be a number >= 0 and "
                                    "<= 1, got '1.5'"),
    ({"interest_rate": "0.31"}, "row 1, interest_rate: must be a number >= 0 and <= 0.3, "
                                "got '0.31'"),
    ({"term_years": "7.5"}, "row 1, term_years: must be an integer >= 1 and <= 30, got '7.5'"),
    ({"current_value": "0"}, "row 1, current_value: must be a number > 0, got '0'"),
    ({"status": "sold"}, "row 1, status: must be one of active, defaulted, exited, got 'sold'"),
    ({"status": "defaulted"}, "row 1, default_date: is required when status is defaulted, "
                              "got None"),
    ({"default_date": "2024-01-01"}, "row 1, default_date: is allowed only when status is "
                                     "defaulted, got '2024-01-01'"),
    ({"status": "defaulted", "default_date": "2021-01-01"},
     "row 1, default_date: must be between origination_date (2022-06-15) and as_of "
     "(2025-06-30), got '2021-01-01'"),
    ({"contract_type": "loan"}, "row 1, contract_type: must be one of interest_plus_share, "
                                "appreciation_share, value_share, got 'loan'"),
    ({"multiple": "6"}, "row 1, multiple: must be a number >= 1 and <= 5, got '6'"),
    ({"risk_adjustment": "0.4"}, "row 1, risk_adjustment: must be a number >= 0 and <= 0.3, "
                                 "got '0.4'"),
    ({"cap_rate": "-0.1"}, "row 1, cap_rate: must be a number >= 0 and <= 0.3, got '-0.1'"),
    ({"lien_position": "4"}, "row 1, lien_position: must be one of 1, 2, 3, got '4'"),
    ({"lien_position": "2"}, "row 1, senior_balance: must be > 0 for a junior lien "
                             "(lien_position 2), got 0.0"),
    ({"senior_balance": "100000"}, "row 1, senior_balance: must be 0 or empty for a first lien "
                                   "(lien_position 1), got 100000.0"),
])
def test_each_column_rule_names_row_column_value_and_rule(cells, message):
    assert errors_of([{**GOOD, **cells}]) == [message]


def test_every_bad_row_is_reported_at_once_and_nothing_loads():
    rows = [GOOD, {**GOOD, "loan_id": "A-2", "advance": "-5"}, {**GOOD, "loan_id": "A-3"},
            {**GOOD, "loan_id": "A-4", "zone": "blue", "term_years": "0"}, {**GOOD}]
    assert errors_of(rows) == [
        "row 2, advance: must be a number > 0, got '-5'",
        "row 4, zone: must be one of green, orange, red, got 'blue'",
        "row 4, term_years: must be an integer >= 1 and <= 30, got '0'",
        "row 5, loan_id: must be unique (duplicate of row 1), got 'A-1'"]


def test_unknown_columns_and_missing_required_ones():
    msgs = errors_of([{"loan_id": "A-1", "advance": "1", "colour": "red", "ltv": "0.4"}])
    assert msgs[0] == ("columns: unknown column(s); the tape's columns are "
                       f"{', '.join(COLUMNS)}, got ['colour', 'ltv']")
    assert msgs[1:] == ["row 1, origination_date: is required, got None",
                        "row 1, origination_value: is required, got None",
                        "row 1, zone: is required, got None"]


def test_at_most_100_errors_then_how_many_more():
    msgs = errors_of([{**GOOD, "loan_id": f"A-{i}", "advance": "0"} for i in range(130)])
    assert len(msgs) == MAX_REPORTED + 1 and msgs[-1] == "and 30 more"
    assert msgs[0] == "row 1, advance: must be a number > 0, got '0'"


def test_sample_tape_loads_and_round_trips():
    tape = equihome.load_loan_tape(ROOT / "examples" / "loan_tape.csv", as_of="2025-06")
    assert tape.n == 500 and (~tape.active).sum() == 13
    assert set(tape.columns["zone"]) == {"green", "orange", "red"}
    assert tape.columns["origination_date"].max() <= dt.date(2025, 6, 30)
    again = equihome.load_loan_tape(tape.to_rows(), as_of="2025-06")
    assert again.to_rows() == tape.to_rows()
    frame = tape.to_pandas()
    assert list(frame.columns) == list(COLUMNS) and frame["advance"].sum() == tape.columns[
        "advance"].sum()


def test_sample_tape_is_what_its_script_writes():
    rows = make_loan_tape.rows(500, 7, dt.date(2025, 6, 30))
    with (ROOT / "examples" / "loan_tape.csv").open(newline="") as fh:
        assert list(csv.DictReader(fh)) == rows


def test_a_10000_loan_tape_loads(tmp_path, capsys):
    """The load time is measured (and printed), not asserted: DOMAIN.md asks for under 1 s."""
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(make_loan_tape.rows(10_000, 3, dt.date(2025, 6, 30)))
    t0 = time.perf_counter()
    tape = equihome.load_loan_tape(path, as_of="2025-06")
    with capsys.disabled():
        print(f"\n10,000-loan tape loaded in {time.perf_counter() - t0:.3f} s")
    assert tape.n == 10_000


def test_bad_source_and_as_of():
    assert errors_of([GOOD], as_of="June") == ["as_of: must be YYYY-MM or YYYY-MM-DD, "
                                               "got 'June'"]
    with pytest.raises(LoanTapeError, match="source: must be a .csv or .parquet file"):
        equihome.load_loan_tape("tape.xlsx")
    assert errors_of([]) == ["loans: must hold at least one loan, got []"]


def test_parquet_tape_equals_the_csv(tmp_path):
    """The same tape as Parquet (typed columns: numbers, dates, nulls) loads to the same rows,
    and the engine gives the same result from either file."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    csv_tape = equihome.load_loan_tape(ROOT / "examples" / "loan_tape.csv", as_of="2025-06")
    columns = {}
    for name, col in csv_tape.columns.items():
        if name in ("origination_date", "default_date"):
            columns[name] = pa.array([None if str(v) == "NaT" else dt.date.fromisoformat(str(v))
                                      for v in col], type=pa.date32())
        elif col.dtype == object:
            columns[name] = pa.array(list(col), type=pa.string())
        else:
            columns[name] = pa.array([None if v != v else float(v) for v in col])
    path = tmp_path / "tape.parquet"
    pq.write_table(pa.table(columns), path)
    tape = equihome.load_loan_tape(path, as_of="2025-06")
    assert tape.to_rows() == csv_tape.to_rows()
    runs = [equihome.simulate("100m", num_simulations=8, seed=3, overrides={
        "fund_size": 250_000_000, "deployment_period": 5, "portfolio": {
            "loans": str(src), "as_of": "2025-06", "called_to_date": 205_000_000,
            "cash": 3_000_000}}) for src in (ROOT / "examples" / "loan_tape.csv", path)]
    assert runs[0].statistics == runs[1].statistics
