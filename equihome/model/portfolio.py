"""The fund's own book (DOMAIN.md, "The fund's own book"): a loan tape turned into the ledger
kernel's seasoned loans, and the fund's past turned into its equity flows.

Months count from the fund's inception (``io/portfolio.py``); ``as_of`` is month E. Seasoned
loans sit at the front of every scenario's pool (the same loans in every scenario; their exit
draws and home walks are the scenario's own). A loan k originated in fund month o_k on a home
then worth V0 accrues interest from o_k and shares the gain from V0; its home is worth
``current_value`` at E (else V0 grown at its zone's drift, E[I(t)] = exp(mu t)) and then moves
with its suburb's index: V(m) = current_value x lev(m) / lev(E). Hazards run from E;
``min_hold_period``, buyout and loss-sharing windows and the maturity count from o_k (a loan
past its term at E matures at E + 1). A defaulted loan is in foreclosure: its claim stops at
the default month, valued at the home's value at E, and its recovery arrives ``foreclosure_time``
after the default (at E + 1 at the earliest). Exited rows are ignored and counted.

The fund at E holds ``cash`` and has called ``called_to_date``; uncalled commitments
(fund_size (1 - cash_reserve_rate) - called_to_date) deploy new synthetic loans over what is
left of the deployment period (loan_generator.deployment_schedule). The ledger kernel steps
months E..M; months before E hold no ledger. LP flows: with ``history`` the dated calls and
distributions are written into the ledger's calls and distributions columns at their months
(LP IRR and TVPI since inception); without it the opening NAV (cash + seasoned loans at fair
value at E) is the LP's contribution at E (IRR and TVPI from as_of).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from equihome.io.config import ConfigError, FundConfig
from equihome.io.loan_tape import LoanTape, LoanTapeError, load_loan_tape
from equihome.io.portfolio import PortfolioConfig, history_rows, month_index
from equihome.model.contracts import CONTRACT_TYPES
from equihome.model.fixed_math import exp_values
from equihome.model.layout import COL, ZONES, zone_array

#: Contract columns a tape row may state: a row stating any has its own terms.
CONTRACT_COLUMNS = ("contract_type", "multiple", "risk_adjustment", "cap_rate", "lien_position",
                    "senior_balance")


@dataclass
class Book:
    """A resolved portfolio: the seasoned loans (T,) in tape order and the fund's position."""

    start: int                  # E, the fund month of as_of
    inception: str              # YYYY-MM of fund month 0
    loan_id: np.ndarray         # (T,) object
    size: np.ndarray            # (T,) advance, $
    value0: np.ndarray          # (T,) home value at origination, $
    zone: np.ndarray            # (T,) int32 zone index
    suburb: np.ndarray          # (T,) int32 global suburb index
    suburb_name: np.ndarray     # (T,) object: the suburb named on the tape, None if blank
    orig: np.ndarray            # (T,) int32 origination fund month
    ratio: np.ndarray           # (T,) home value at E / value0
    rate: np.ndarray            # (T,) simple interest per year
    share: np.ndarray           # (T,) appreciation share; NaN: the configured method
    maturity: np.ndarray        # (T,) int32 fund month of maturity (at least E + 1)
    default: np.ndarray         # (T,) int32 default fund month, -1 for active loans
    cash: float                 # $ at E
    called: float               # equity called up to E, $
    history: bool               # True: LP flows since inception
    calls: np.ndarray           # (E + 1,) past calls by fund month, $ (zeros without history)
    dists: np.ndarray           # (E + 1,) past distributions by fund month, $
    exited: int                 # tape rows already exited (ignored)
    assumed_values: int         # loans whose value at E was grown at the zone drift
    terms: dict[str, np.ndarray] = field(default_factory=dict)  # contract_terms' tape_* arrays
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """T, the seasoned loans on the book."""
        return int(self.size.size)

    def kernel_tables(self) -> dict[str, np.ndarray]:
        """The ledger kernel's tape_* tables (Tables in _core.pxd)."""
        return {"tape_orig": self.orig, "tape_ratio": self.ratio, "tape_rate": self.rate,
                "tape_share": self.share, "tape_maturity": self.maturity,
                "tape_default": self.default, **self.terms}


def load_book(cfg: FundConfig) -> Book | None:
    """The config's portfolio resolved and checked against the fund (None without one);
    raises ConfigError with every bad row, column and rule located under ``portfolio``."""
    pf = cfg.portfolio
    if pf is None:
        return None
    if pf.tape_id is not None:
        raise ConfigError([{"loc": ["portfolio", "loans"], "value": pf.loans, "msg": (
            f"portfolio.loans: tape {pf.tape_id!r} is known only to the server that stored it; "
            "run it there, or give the rows or a .csv/.parquet path")}])
    tape = _read_tape(pf)
    terms, errors = contract_terms(cfg, tape)
    history = _history(pf)
    first = int(months_of(tape.columns["origination_date"]).min())
    inception = _inception(pf, first, history)
    E = _month(pf.as_of) - inception
    if first < inception:
        errors.append(_error(["inception"], pf.inception, "must not be after the tape's earliest "
                             f"origination ({_ym(first)})"))
    if not 0 <= E < cfg.months:
        errors.append(_error(["as_of"], pf.as_of, "must be before the fund's end (inception "
                             f"{_ym(inception)} + fund_term {cfg.fund_term} y = "
                             f"{_ym(inception + cfg.months)})"))
    if errors:
        raise ConfigError(errors)
    return _build(cfg, pf, tape, history, inception, E, terms)


def _read_tape(pf: PortfolioConfig) -> LoanTape:
    """The validated tape, its errors located under portfolio.loans."""
    try:
        return load_loan_tape(pf.loans, as_of=pf.as_of)
    except LoanTapeError as exc:
        raise LoanTapeError([{**e, "loc": ["portfolio", *e["loc"]],
                              "msg": f"portfolio.loans: {e['msg']}"} for e in exc.errors]) from None


def _month(text: str) -> int:
    """Months since year 0 of a date the config or the tape loader already checked."""
    month = month_index(text)
    if month is None:
        raise ValueError(f"not a month: {text!r}")
    return month


def months_of(dates: np.ndarray) -> np.ndarray:
    """Months since year 0 (as month_index counts them) of datetime64 dates."""
    return dates.astype("datetime64[M]").astype(np.int64) + 12 * 1970


def _error(loc: list, value: object, rule: str) -> dict:
    path = "portfolio." + ".".join(str(p) for p in loc)
    return {"loc": ["portfolio", *loc], "value": value, "msg": f"{path}: {rule}, got {value!r}"}


def _ym(month: int) -> str:
    """YYYY-MM of a month index (months since year 0)."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def contract_terms(cfg: FundConfig, tape: LoanTape) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The kernel's per-loan contract arrays of the kept loans (tape_ctype -1: the fund's
    contract, as a first lien; else the row's own type, multiple, risk adjustment, cap and
    senior balance, blanks filled from the fund's contract), and the rows that break a rule."""
    c, col, keep = cfg.contract, tape.columns, tape.active
    stated = np.zeros(tape.n, dtype=bool)
    for name in CONTRACT_COLUMNS:
        v = col[name]
        stated |= (v != None) if v.dtype == object else ~np.isnan(v)  # noqa: E711
    ctype = np.array([CONTRACT_TYPES[t] if t is not None else CONTRACT_TYPES[c.type]
                      for t in col["contract_type"]], dtype=np.intc)
    risk = np.where(np.isnan(col["risk_adjustment"]),
                    c.risk_adjustment if c.type == "appreciation_share" else 0.0,
                    col["risk_adjustment"])
    senior = np.nan_to_num(col["senior_balance"]) / col["origination_value"]  # < 1 (loader)
    errors = [{"loc": ["portfolio", "loans", int(i) + 1, "risk_adjustment"],
               "value": float(risk[i]), "msg": (
                   f"portfolio.loans: row {i + 1}, risk_adjustment: applies only to contract_type "
                   f"appreciation_share (the fund's contract is {c.type}), got {risk[i]:g}")}
              for i in np.flatnonzero(stated & (risk > 0) & (ctype != 1))[:100]]
    cap = np.where(np.isnan(col["cap_rate"]), c.cap_rate if c.cap_rate is not None else np.nan,
                   col["cap_rate"])
    arrays = {"tape_ctype": np.where(stated, ctype, -1).astype(np.intc),
              "tape_mult": np.where(np.isnan(col["multiple"]), c.multiple, col["multiple"]),
              "tape_risk_adj": risk, "tape_cap": cap, "tape_senior": senior}
    return {k: np.ascontiguousarray(v[keep]) for k, v in arrays.items()}, errors


def _history(pf: PortfolioConfig) -> list[tuple[int, float, float]]:
    """(month index, calls, distributions) of each history row."""
    try:
        rows = history_rows(pf.history)
    except (OSError, ValueError) as exc:
        raise ConfigError([{"loc": ["portfolio", "history"], "value": pf.history,
                            "msg": f"portfolio.history: cannot be read: {exc}"}]) from None
    out = []
    for i, r in enumerate(rows):
        when = month_index(r.date)
        if when is None:
            raise ConfigError([_error(["history", i, "date"], r.date, "must be a month YYYY-MM")])
        out.append((when, r.calls, r.distributions))
    return out


def _inception(pf: PortfolioConfig, first: int, history: list) -> int:
    """Month index of fund month 0: given, else the first history date, else ``first``, the
    earliest origination on the tape."""
    if pf.inception is not None:
        return _month(pf.inception)
    if history:
        return min(h[0] for h in history)
    return first


def suburb_of(name: str, zone: int, per_zone: int) -> int:
    """The global suburb index a named suburb maps to: a stable hash (CRC-32) into its zone's
    ``per_zone`` suburbs, so the same name always lands on the same suburb."""
    return zone * per_zone + zlib.crc32(name.strip().lower().encode()) % per_zone


def _build(cfg: FundConfig, pf: PortfolioConfig, tape: LoanTape,
           history: list[tuple[int, float, float]], inception: int, E: int,
           terms: dict[str, np.ndarray]) -> Book:
    """The kernel's arrays of the active and defaulted loans."""
    col = tape.columns
    keep = tape.active
    n = int(keep.sum())
    months = (months_of(col["origination_date"][keep]) - inception).astype(np.intc)
    zone = np.array([ZONES.index(z) for z in col["zone"][keep]], dtype=np.intc)
    per_zone = cfg.price_path.suburbs_per_zone
    names = [s if s is not None else lid for s, lid in zip(col["suburb"][keep],
                                                            col["loan_id"][keep], strict=True)]
    suburb = np.array([suburb_of(s, z, per_zone) for s, z in zip(names, zone, strict=True)],
                      dtype=np.intc)
    value0 = col["origination_value"][keep].astype(float)
    age = (E - months) / 12.0
    drift = zone_array(cfg.appreciation_rates)[zone]
    current = col["current_value"][keep]
    assumed = np.isnan(current)
    current = np.where(assumed, value0 * exp_values(drift * age), current)
    term = np.where(np.isnan(col["term_years"][keep]), cfg.loan_term, col["term_years"][keep])
    maturity = np.maximum(months + 12 * term.astype(np.intc), E + 1).astype(np.intc)
    default = np.full(n, -1, dtype=np.intc)
    bad = col["status"][keep] == "defaulted"
    default[bad] = months_of(col["default_date"][keep][bad]) - inception
    calls, dists = np.zeros(E + 1), np.zeros(E + 1)
    for when, c, d in history:
        calls[when - inception] += c
        dists[when - inception] += d
    rate = col["interest_rate"][keep]
    book = Book(
        start=E, inception=_ym(inception), loan_id=col["loan_id"][keep],
        size=col["advance"][keep].astype(float), value0=value0, zone=zone, suburb=suburb,
        suburb_name=col["suburb"][keep],
        orig=months, ratio=current / value0,
        rate=np.where(np.isnan(rate), cfg.interest_rate, rate),
        share=col["appreciation_share"][keep].astype(float), maturity=maturity, default=default,
        cash=float(pf.cash), called=float(pf.called_to_date), history=bool(history),
        calls=calls, dists=dists, exited=int((~keep).sum()), assumed_values=int(assumed.sum()),
        terms=terms)
    book.notes = notes(book, pf)
    return book


def notes(book: Book, pf: PortfolioConfig) -> list[str]:
    """The result's assumptions about the book, in words."""
    out = [f"Fund month 0 is {book.inception}; the simulation starts at as_of {pf.as_of} "
           f"(month {book.start}) with {book.n:,} seasoned loans "
           f"(${book.size.sum() / 1e6:,.2f}M advanced), ${book.cash / 1e6:,.2f}M cash and "
           f"${book.called / 1e6:,.2f}M called."]
    if book.history:
        out.append("LP IRR and TVPI are since inception: the history's calls and distributions "
                   "are in the cash flows at their months.")
    else:
        out.append("LP IRR and TVPI are from as_of: the opening NAV (cash + loans at fair value) "
                   "is the LP's contribution at as_of; past flows are not in them.")
    if book.assumed_values:
        out.append(f"{book.assumed_values:,} loans have no current_value: their home value at "
                   "as_of is the origination value grown at the zone's drift.")
    if book.exited:
        out.append(f"{book.exited:,} exited loans on the tape are ignored.")
    return out


def open_ledger(book: Book, ledger: np.ndarray, opening: np.ndarray) -> None:
    """Write the fund's past into the equity columns of a chunk's ledger (S, C, M+1): the
    history's calls and distributions at their months, or, without history, the opening NAV
    (S,) as a call at E (no cash moves: the LP's position at as_of)."""
    E = book.start
    if book.history:
        ledger[:, COL["calls"], :E + 1] += book.calls
        ledger[:, COL["distributions"], :E + 1] += book.dists
    else:
        ledger[:, COL["calls"], E] += opening
