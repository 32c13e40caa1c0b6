"""The facilities of the independent reference fund model (``tests/fund_model.py``), written
from DOMAIN.md's "Leverage" section in plain Python floats; nothing of the engine is used but
the validated configuration.

Money in $, months, rates per year charged monthly as rate / 12. The month's order: proceeds
in -> facility interest (commitment fees are set aside and paid with the fund's fees) ->
arrears and fees due -> covenant sweep -> the line's draws called back when due ->
originations (equity: the line first, then calls; then the NAV facility under ``deploy``) ->
distributions (lenders first). Interest the fund has no cash for is capitalised on the NAV
facility and called (else capitalised) on the line.
"""

from __future__ import annotations

import math

ROWS = ("nav_draws", "nav_repaid", "nav_interest", "nav_fees", "nav_balance", "nav_capitalised",
        "sub_draws", "sub_repaid", "sub_interest", "sub_fees", "sub_balance", "covenant_breach",
        "lender_loss")


def params(cfg) -> dict:
    """The facilities' terms as plain numbers (months for the window, monthly rates)."""
    nav, sub = cfg.leverage.nav_facility, cfg.leverage.subscription_line
    window = nav.draw_window if nav.draw_window is not None else [0.0, cfg.fund_term - 1.0]
    return dict(
        nav=nav.enabled, adv=nav.advance_rate, limit=nav.limit,
        nav_rate=(nav.base_rate + nav.spread) / 12.0, nav_fee=nav.commitment_fee / 12.0,
        deploy=nav.enabled and nav.draw_policy == "deploy",
        liquidity=nav.enabled and nav.draw_policy == "liquidity",
        window=(round(12 * window[0]), round(12 * window[1])), covenant=nav.ltv_covenant,
        line=sub.enabled, frac=sub.limit_fraction, line_rate=sub.rate / 12.0,
        line_fee=sub.commitment_fee / 12.0, months=sub.max_outstanding_months)


def deploy_extra(cfg, equity: float) -> float:
    """$ the NAV facility adds to the initial book under ``deploy``: it lends advance_rate of
    the book B = equity + debt, so debt = advance_rate / (1 - advance_rate) x equity (at most
    its limit)."""
    nav = cfg.leverage.nav_facility
    if not (nav.enabled and nav.draw_policy == "deploy") or nav.advance_rate >= 1.0:
        return 0.0
    return min(nav.advance_rate / (1.0 - nav.advance_rate) * equity,
               math.inf if nav.limit is None else nav.limit)


def new_state(N: int) -> dict:
    """Facility balances ($), the line's draws [month, $ outstanding] oldest first, and the
    monthly record rows."""
    state = dict(nav_out=0.0, draws=[], breach=False, fees_due=0.0)
    state.update({name: [0.0] * N for name in ROWS})
    return state


def line_out(lv: dict) -> float:
    """$ drawn on the line: the sum of its draws still outstanding."""
    return sum(d[1] for d in lv["draws"])


def lendable(q: dict, book: dict, m: int, base: float) -> float:
    """$ the NAV facility may still lend in month m on a borrowing base of ``base`` $ of fair
    value: advance_rate x base, at most the limit, less what is drawn; nothing outside the
    draw window or in a covenant breach."""
    lv = book["lev"]
    a, b = q["window"]
    if not q["nav"] or not a <= m < b or lv["breach"]:
        return 0.0
    cap = q["adv"] * base if q["limit"] is None else min(q["adv"] * base, q["limit"])
    return max(cap - lv["nav_out"], 0.0)


def draw_line(book: dict, m: int, x: float) -> None:
    """$x drawn on the line in month m (cash in)."""
    lv = book["lev"]
    if lv["draws"] and lv["draws"][-1][0] == m:
        lv["draws"][-1][1] += x
    else:
        lv["draws"].append([m, x])
    lv["sub_draws"][m] += x
    book["draws"][m] += x


def draw_nav(book: dict, m: int, x: float) -> None:
    """$x drawn on the NAV facility in month m (cash in, or a capitalised charge)."""
    book["lev"]["nav_out"] += x
    book["lev"]["nav_draws"][m] += x
    book["draws"][m] += x


def interest(p: dict, book: dict, m: int, fair_before: float) -> None:
    """Facility interest of month m on the balances at its start, paid from cash, else
    capitalised (NAV) or called, then capitalised (line, with its commitment fee on the
    undrawn line); the NAV facility's commitment fee on its undrawn limit is set aside for the
    fund's charges. ``fair_before``: $ fair value of the live loans at the end of month m - 1."""
    q, lv = p["lev"], book["lev"]
    lv["fees_due"] = 0.0
    last = m == p["M"]
    if q["nav"]:
        a, b = q["window"]
        if not last and a <= m < b:
            lim = q["limit"] if q["limit"] is not None else q["adv"] * fair_before
            lv["nav_fees"][m] = q["nav_fee"] * max(lim - lv["nav_out"], 0.0)
            lv["fees_due"] += lv["nav_fees"][m]
        due = lv["nav_out"] * q["nav_rate"]
        lv["nav_interest"][m] = due
        cash = min(book["cash"], due)
        book["cash"] -= cash
        if due - cash > 0.0:
            lv["nav_capitalised"][m] = due - cash
            draw_nav(book, m, due - cash)
        book["interest"][m] += due
        book["fees_paid"][m] += due
    if q["line"]:  # interest and the commitment fee on the undrawn line, called if no cash
        due = line_out(lv) * q["line_rate"]
        lv["sub_interest"][m] = due
        if not last:
            room = max(q["frac"] * (p["fund_size"] - book["called"]) - line_out(lv), 0.0)
            lv["sub_fees"][m] = q["line_fee"] * room
            due += lv["sub_fees"][m]
        book["interest"][m] += due
        book["fees_paid"][m] += due
        cash = min(book["cash"], due)
        book["cash"] -= cash
        called = min(due - cash, max(p["fund_size"] - book["called"] - line_out(lv), 0.0))
        book["called"] += called
        book["calls"][m] += called
        if due - cash - called > 0.0:
            draw_line(book, m, due - cash - called)


def sweep(p: dict, book: dict, m: int, fair: float) -> None:
    """Months before M: NAV facility drawn above ltv_covenant x ``fair`` ($, live loans) is a
    breach; cash on hand repays it until back under, and the reinvestment budget shrinks
    by what the lender takes."""
    q, lv = p["lev"], book["lev"]
    lv["breach"] = False
    if not q["nav"] or m == p["M"] or lv["nav_out"] <= 0.0:
        return
    over = lv["nav_out"] - q["covenant"] * fair
    if over > 0.0:
        lv["breach"] = True
        lv["covenant_breach"][m] = 1.0
        x = min(over, book["cash"])
        repay_nav(book, m, x)
        book["earmark"] = max(book["earmark"] - x, 0.0)


def repay_nav(book: dict, m: int, x: float) -> None:
    """$x of NAV facility principal repaid from cash in month m."""
    book["lev"]["nav_out"] -= x
    book["lev"]["nav_repaid"][m] += x
    book["cash"] -= x
    book["repaid"][m] += x


def call_back(p: dict, book: dict, m: int) -> None:
    """The line's draws made ``max_outstanding_months`` before month m (all of them at M) are
    repaid by a capital call, else from cash; what neither covers is owed again from month m."""
    q, lv = p["lev"], book["lev"]
    if not q["line"]:
        return
    due = sum(d[1] for d in lv["draws"] if d[0] + q["months"] <= m or m == p["M"])
    if due <= 0.0:
        return
    lv["draws"] = [d for d in lv["draws"] if not (d[0] + q["months"] <= m or m == p["M"])]
    others = line_out(lv)
    called = min(due, max(p["fund_size"] - book["called"] - others, 0.0))
    book["called"] += called
    book["calls"][m] += called
    cash = min(due - called, book["cash"])
    book["cash"] -= cash
    lv["sub_repaid"][m] += called + cash
    book["repaid"][m] += called + cash
    if due - called - cash > 0.0:
        lv["draws"].append([m, due - called - cash])
        lv["draws"].sort(key=lambda d: d[0])


def pay_lenders(p: dict, book: dict, m: int, free: float) -> float:
    """Free cash ($) of a distribution repays the NAV facility, then the line oldest draw
    first; at M what is still owed is the lenders' loss. Returns the free cash left."""
    q, lv = p["lev"], book["lev"]
    if q["nav"] and free > 0.0:
        x = min(free, lv["nav_out"])
        repay_nav(book, m, x)
        free -= x
    for d in lv["draws"]:
        x = min(free, d[1]) if free > 0.0 else 0.0
        d[1] -= x
        book["cash"] -= x
        free -= x
        lv["sub_repaid"][m] += x
        book["repaid"][m] += x
    lv["draws"] = [d for d in lv["draws"] if d[1] != 0.0]
    if m == p["M"]:
        lv["lender_loss"][m] = lv["nav_out"] + line_out(lv)
        lv["nav_out"], lv["draws"] = 0.0, []
    return free


def unlevered(book: dict) -> tuple[list[float], list[float]]:
    """Equity calls and distributions ($/month) as if the fund had no line: every draw a call
    in its month, every dollar paid to the line's lender kept by the investors."""
    lv, calls, dists = book["lev"], [], []
    for m in range(len(book["calls"])):
        net = (book["distributions"][m] - book["calls"][m] - lv["sub_draws"][m]
               + lv["sub_repaid"][m] + lv["sub_interest"][m] + lv["sub_fees"][m])
        net = 0.0 if abs(net) < 1e-6 else net  # cancellation residue, not money
        calls.append(max(-net, 0.0))
        dists.append(max(net, 0.0))
    return calls, dists


def coverage(book: dict) -> float:
    """Lowest trailing-12-month (whole fund if shorter) proceeds after fees / NAV facility
    interest over the windows with interest due; NaN when none has any."""
    N = len(book["proceeds"])
    w = min(12, N)
    after = [book["proceeds"][m] - book["management_fees"][m] - book["expenses"][m]
             - book["transaction_fees"][m] for m in range(N)]
    low = math.inf
    for end in range(w - 1, N):
        due = sum(book["lev"]["nav_interest"][end - w + 1:end + 1])
        if due > 0.0:
            low = min(low, sum(after[end - w + 1:end + 1]) / due)
    return low if math.isfinite(low) else math.nan


def metrics(book: dict, lp_irr: float, lp_irr_unlevered: float) -> dict:
    """The leverage metrics of one scenario ($, months, multiples, annual IRRs)."""
    lv = book["lev"]
    return dict(
        lp_irr_unlevered=lp_irr_unlevered, lp_irr_uplift=lp_irr - lp_irr_unlevered,
        nav_facility_peak=max(lv["nav_balance"]), subscription_line_peak=max(lv["sub_balance"]),
        facility_interest=sum(lv["nav_interest"]) + sum(lv["sub_interest"]),
        facility_fees=sum(lv["nav_fees"]) + sum(lv["sub_fees"]),
        covenant_months=sum(lv["covenant_breach"]), min_interest_coverage=coverage(book),
        lender_loss=lv["lender_loss"][-1], nav_facility_capitalised=sum(lv["nav_capitalised"]))
