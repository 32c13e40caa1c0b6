"""Independent, slow reference model of one fund scenario, written from the spec (issue 9).

Loan by loan, month by month, in plain Python floats and lists (numpy arrays are only read as
inputs). It shares nothing with the engine except the validated configuration
(:mod:`equihome.io.config`): no stage, kernel or ``equihome.model.reference`` code is used, so an
agreement between the two is evidence that both implement the documented semantics.

Units: money in $, time in months ``m = 0 .. M`` (``M = 12 * fund_term``), rates per year
unless a name ends in ``_m`` (per month). Exit kinds: 1 sale, 2 refinance, 3 default,
4 maturity, 5 liquidation. The exit *age* and *kind* of each loan are inputs (the exit race is
the engine's); everything else (which loans are made and when, proceeds, the cash ledger, the
waterfall, the metrics) is computed here.
"""

from __future__ import annotations

import math

import fund_leverage as fl
from fund_contracts import claim as contract_claim
from fund_contracts import is_junior, left_for, terms, upside
from fund_contracts import metrics as contract_metrics
from fund_irr import irr_annual, irr_monthly, trim  # noqa: F401  (the model's IRR, re-exported)

from equihome.io.config import FundConfig, load_config

SALE, REFI, DEFAULT, MATURITY, LIQUIDATION = 1, 2, 3, 4, 5
EVERY = {"monthly": 1, "quarterly": 3, "annual": 12}
FEE_BASES = ("committed_capital", "invested_capital", "net_asset_value")
LEDGER = ("calls", "distributions", "nav", "advances", "proceeds", "fees_paid", "unpaid",
          "management_fees", "expenses", "transaction_fees", "interest", "draws", "repaid",
          "fee_income", "invested", "cash_end")  # monthly rows, $ per month (nav, unpaid,
# invested and cash_end are month-end balances)

CENT_SLACK = 1e-6  # of a cent: sums of fees a few ulps above a whole cent do not add one


class ModelMismatch(AssertionError):
    """The model and the engine diverged in a way the model cannot continue from."""


# --------------------------------------------------------------------------- static inputs


def schedule_weights(pace: str, n: int) -> list[float]:
    """Share of the deployable capital released in each of the first ``n`` months (sums to 1)."""
    if pace == "even":
        return [1.0 / n] * n
    if pace == "front_loaded":
        return [(2.0 * (n - i) - 1.0) / (n * n) for i in range(n)]
    return [(2.0 * i + 1.0) / (n * n) for i in range(n)]


def deployment_schedule(cfg: FundConfig) -> list[float]:
    """$ of initial origination released in each month 0..M (0 after the deployment period)."""
    M = 12 * cfg.fund_term
    n = max(1, round(12 * cfg.deployment_period))
    equity = cfg.fund_size * (1.0 - cfg.cash_reserve_rate)
    deployable = equity + sum(t.size for t in cfg.tranches) + fl.deploy_extra(cfg, equity)
    out = [0.0] * (M + 1)
    for i, w in enumerate(schedule_weights(cfg.deployment_pace, n)):
        if i <= M:
            out[i] = deployable * w
    return out


def fee_rates(cfg: FundConfig) -> list[float]:
    """Annual management-fee rate in force in each month 0..M (schedule overrides; 0 at M)."""
    fe = cfg.fee_engine
    M = 12 * cfg.fund_term
    sched = list(fe.management_fee_schedule)
    out = [sched[m // 12] if m // 12 < len(sched) else fe.management_fee_rate
           for m in range(M + 1)]
    out[M] = 0.0
    return out


def expenses(cfg: FundConfig) -> list[float]:
    """$ of fund expenses charged in each month 0..M (setup costs in month 0, nothing at M)."""
    fe = cfg.fee_engine
    M = 12 * cfg.fund_term
    yearly = fe.annual_fund_expenses * cfg.fund_size + fe.fixed_annual_expenses
    out = [yearly * (1.0 + fe.expense_growth_rate) ** (m // 12) / 12.0 for m in range(M + 1)]
    out[M] = 0.0
    out[0] += fe.setup_costs
    return out


def pref_growth(cfg: FundConfig) -> float:
    """Monthly growth factor (dimensionless) of the preferred return under its compounding."""
    h = cfg.hurdle_rate
    return {"annual": (1.0 + h) ** (1.0 / 12.0), "quarterly": (1.0 + h / 4.0) ** (1.0 / 3.0),
            "monthly": 1.0 + h / 12.0, "continuous": math.exp(h / 12.0)}[
        cfg.preferred_return_compounding]


def zone_list(values) -> list[float]:
    """Per-zone config values as [green, orange, red]."""
    return [float(values.green), float(values.orange), float(values.red)]


def params(cfg: FundConfig) -> dict:
    """Every scenario-independent input of the model (money in $, months, monthly rates)."""
    M = 12 * cfg.fund_term
    ex, fe = cfg.exit_simulator, cfg.fee_engine
    tranches = sorted(cfg.tranches, key=lambda t: t.priority)
    every = EVERY[cfg.distribution_frequency]
    return dict(
        M=M, fund_size=float(cfg.fund_size), schedule=deployment_schedule(cfg),
        deploy_n=max(1, round(12 * cfg.deployment_period)), fee_rate=fee_rates(cfg),
        expense=expenses(cfg), every=every,
        dist_month=[(m > 0 and m % every == 0) or m == M for m in range(M + 1)],
        fee_in=cfg.origination_fee_rate if cfg.origination_fee_recipient == "fund" else 0.0,
        orig_cap=cfg.fund_size * (1.0 - cfg.cash_reserve_rate),
        reinvest_end=round(12 * cfg.reinvestment_period), reinvest_rate=cfg.reinvestment_rate,
        basis=FEE_BASES.index(fe.management_fee_basis), acq=fe.acquisition_fee_rate,
        disp=fe.disposition_fee_rate, tr_size=[float(t.size) for t in tranches],
        tr_rate_m=[(1.0 + t.interest_rate) ** (1.0 / 12.0) - 1.0 for t in tranches],
        g=pref_growth(cfg), lp_share=1.0 - cfg.gp_commitment_percentage,
        cu=cfg.catch_up_rate, k=cfg.carried_interest_rate,
        offset=cfg.management_fee_offset_percentage, clawback=cfg.clawback_provision,
        european=cfg.waterfall_structure == "european", rate=cfg.interest_rate,
        method=cfg.appreciation_share_method, fixed_share=cfg.appreciation_share,
        thr=list(cfg.tiered_appreciation_thresholds) + [math.inf],
        tier_share=list(cfg.tiered_appreciation_shares), depreciation=cfg.share_depreciation,
        cap=cfg.annual_return_cap, sh=cfg.price_path.property_variation,
        fc_time=ex.foreclosure_time, fc_cost=ex.foreclosure_cost,
        liq=ex.liquidation_discount, recovery=zone_list(cfg.recovery_rates), ct=terms(cfg),
        lev=fl.params(cfg),
    )


# --------------------------------------------------------------------------- one loan


def claim(p: dict, loan: dict, tau: int, ratio: float) -> tuple[float, bool]:
    """Fund's claim in $ on a loan ``tau`` months old whose home is worth V0 * ``ratio``, and
    whether a return cap set it (the contract's terms: fund_contracts.claim)."""
    L, V0, share = loan["L"], loan["V0"], loan["share"]
    gain = ratio - 1.0
    c = L + L * p["rate"] / 12.0 * tau  # interest_plus_share; the other types ignore c
    if gain > 0.0:
        c += upside(p, share, V0, gain)
    elif p["depreciation"]:
        c += share * V0 * gain
    return contract_claim(p, L, V0, tau, ratio, c)


def make_loan(p: dict, row: dict, k: int, m0: int) -> dict:
    """Loan ``k`` of the pool opened in month m0: advance L ($), home value V0 ($), share."""
    L, ltv = float(row["size"][k]), float(row["ltv"][k])
    share = {"pro_rata_ltv": ltv, "fixed": p["fixed_share"],
             "tiered": p["tier_share"][0]}[p["method"]]
    return dict(k=k, L=L, ltv=ltv, V0=L / ltv, share=share, m0=m0, z=int(row["zone"][k]),
                j=int(row["suburb"][k]), z1=float(row["z_home"][k][0]),
                z2=float(row["z_home"][k][1]), junior=is_junior(p, k))


def home_walk(sh: float, months: int, z: float) -> float:
    """Factor (mean 1) of a home's own log-normal walk over ``months`` at annual sigma ``sh``."""
    t = months / 12.0
    return math.exp(sh * math.sqrt(t) * z - 0.5 * sh * sh * t)


def settle(p: dict, loan: dict, lev: list, age: int, kind: int) -> None:
    """Exit the loan after ``age`` months: set its exit month m, receipt month r, proceeds ($)
    and the fair value ($) it contributes to NAV in each month it is on the book."""
    m0, j, m = loan["m0"], loan["j"], loan["m0"] + age
    ratio = [lev[q][j] / lev[m0][j] for q in range(m + 1)]
    hh = home_walk(p["sh"], age, loan["z1"])
    claim_e, loan["cap_bound"] = claim(p, loan, age, ratio[m] * hh)
    fair = {m0: loan["L"]}
    fair.update({q: claim(p, loan, q - m0, ratio[q])[0] for q in range(m0 + 1, m)})
    r, proceeds = m, claim_e
    if kind == DEFAULT:
        r, proceeds = default_recovery(p, loan, lev, m, claim_e, hh, fair)
    elif kind == LIQUIDATION:
        proceeds = claim_e * (1.0 - p["liq"])
    loan.update(m=m, r=r, kind=kind, proceeds=proceeds, fair=fair)


def default_recovery(p: dict, loan: dict, lev: list, m: int, claim_e: float, hh: float,
                     fair: dict) -> tuple[int, float]:
    """Receipt month and $ recovered on a loan defaulting in month m; adds the pending
    recovery's fair value ($) for months m .. receipt-1 to ``fair``."""
    j, m0, V0 = loan["j"], loan["m0"], loan["V0"]
    rec, fc = p["recovery"][loan["z"]], p["fc_cost"]
    r = min(m + p["fc_time"], p["M"])
    hh2 = hh * home_walk(p["sh"], r - m, loan["z2"])
    value_r = V0 * (lev[r][j] / lev[m0][j]) * hh2
    for q in range(m, r):
        fair[q] = min(claim_e, left_for(p, loan, V0 * (lev[q][j] / lev[m0][j]) * (1.0 - fc),
                                        q - m0)) * rec
    return r, min(claim_e, left_for(p, loan, value_r * (1.0 - fc), r - m0)) * rec


# --------------------------------------------------------------------------- the ledger


def new_book(p: dict) -> dict:
    """Empty state of one scenario: balances in $ and the monthly ledger rows (lists of $)."""
    N = p["M"] + 1
    book = dict(cash=0.0, called=0.0, debt=[0.0] * len(p["tr_size"]), arrears=0.0, earmark=0.0,
                sched=0.0, nav_prev=0.0, cost_prev=0.0, next_loan=0, loans=[])
    book.update({name: [0.0] * N for name in LEDGER})
    book.update(proc_at=[0.0] * N, prin_at=[0.0] * N, lev=fl.new_state(N))
    return book


def pay(p: dict, book: dict, m: int, amount: float, cap: float, base: float | None = None) -> float:
    """Pay ``amount`` $ in month m from cash, then tranche draws in priority order, then
    equity while called + line drawn < ``cap`` ($): the line first, then calls; then, given a
    borrowing ``base`` ($ of fair value), the NAV facility. Return the $ that could not be paid."""
    use = min(book["cash"], amount)
    book["cash"] -= use
    amount -= use
    for t, size in enumerate(p["tr_size"]):
        if amount <= 0.0:
            break
        d = min(amount, size - book["debt"][t])
        if d > 0.0:
            book["debt"][t] += d
            book["draws"][m] += d
            amount -= d
    if amount > 0.0:
        d = min(amount, max(cap - book["called"] - fl.line_out(book["lev"]), 0.0))
        if p["lev"]["line"]:
            room = p["lev"]["frac"] * (p["fund_size"] - book["called"]) - fl.line_out(book["lev"])
            x = min(d, max(room, 0.0))
            fl.draw_line(book, m, x)
            d -= x
            amount -= x
        book["called"] += d
        book["calls"][m] += d
        amount -= d
    if amount > 0.0 and base is not None:
        d = min(amount, fl.lendable(p["lev"], book, m, base))
        fl.draw_nav(book, m, d)
        amount -= d
    return max(amount, 0.0)


def receive(p: dict, book: dict, m: int) -> None:
    """Step 1: exit proceeds received in month m ($) enter cash; principal is earmarked."""
    book["cash"] += book["proc_at"][m]
    book["proceeds"][m] = book["proc_at"][m]
    if m < p["reinvest_end"]:
        book["earmark"] += p["reinvest_rate"] * book["prin_at"][m]
    else:
        book["earmark"] = 0.0


def fee_basis(p: dict, book: dict) -> float:
    """$ the month's management fee is charged on (commitments, last cost or last NAV)."""
    return (p["fund_size"], book["cost_prev"], max(book["nav_prev"], 0.0))[p["basis"]]


def charge(p: dict, book: dict, m: int) -> float:
    """Step 2: charge fees, expenses, disposition fees and interest of month m and pay what
    is owed; return the fee basis ($) used."""
    basis = fee_basis(p, book)
    mfee = p["fee_rate"][m] / 12.0 * basis if m < p["M"] else 0.0
    interest = sum(d * r for d, r in zip(book["debt"], p["tr_rate_m"], strict=True))
    disposition = p["disp"] * book["proc_at"][m]
    book["management_fees"][m] = mfee
    book["expenses"][m] = p["expense"][m]
    book["transaction_fees"][m] += disposition
    book["interest"][m] += interest + book["lev"]["fees_due"]  # + the facilities' fees
    need = book["arrears"] + mfee + p["expense"][m] + disposition + interest
    need += book["lev"]["fees_due"]
    base = book_values(book, m)[0] if p["lev"]["liquidity"] else None
    book["arrears"] = pay(p, book, m, need, p["fund_size"], base)
    book["fees_paid"][m] += need - book["arrears"]
    return basis


def can_fund(p: dict, book: dict, m: int, net: float, base: float | None) -> bool:
    """Whether ``net`` $ can be paid for a new loan (cash, uncalled origination capital not
    drawn on the line, debt, the NAV facility on a borrowing ``base`` of $ fair value)."""
    undrawn = sum(s - d for s, d in zip(p["tr_size"], book["debt"], strict=True))
    nav = fl.lendable(p["lev"], book, m, base) if base is not None else 0.0
    equity = max(p["orig_cap"] - book["called"] - fl.line_out(book["lev"]), 0.0)
    return net <= book["cash"] + equity + undrawn + nav


def originate(p: dict, book: dict, row: dict, lev: list, ages, kinds, m: int) -> None:
    """Step 3: make pool loans in order while the schedule, recycled principal and cash allow."""
    book["sched"] = book["sched"] + p["schedule"][m] if m < p["deploy_n"] else 0.0
    K = len(row["size"])
    while book["next_loan"] < K:
        k = book["next_loan"]
        L = float(row["size"][k])
        if L > book["sched"] + book["earmark"]:
            return
        V0 = L / float(row["ltv"][k])
        net = L * (1.0 - p["fee_in"]) + p["acq"] * V0
        base = book_values(book, m)[0] + L if p["lev"]["deploy"] else None
        if not can_fund(p, book, m, net, base):
            return
        pay(p, book, m, net, p["orig_cap"], base)
        use_e = min(book["earmark"], L)
        book["earmark"] -= use_e
        book["sched"] -= L - use_e
        book_loan(p, book, row, lev, ages, kinds, m, k, use_e >= 0.5 * L)


def book_loan(p: dict, book: dict, row: dict, lev: list, ages, kinds, m: int, k: int,
              reinvested: bool) -> None:
    """Record loan k made in month m and schedule its exit cash and fair values."""
    loan = make_loan(p, row, k, m)
    age, kind = int(ages[k]), int(kinds[k])
    if age <= 0 or kind not in (SALE, REFI, DEFAULT, MATURITY, LIQUIDATION):
        raise ModelMismatch(f"model makes loan {k} in month {m}, the engine did not")
    settle(p, loan, lev, age, kind)
    loan["reinvested"] = reinvested
    book["advances"][m] += loan["L"]
    book["fee_income"][m] += loan["L"] * p["fee_in"]
    acquisition = p["acq"] * loan["V0"]
    book["transaction_fees"][m] += acquisition
    book["fees_paid"][m] += acquisition
    book["proc_at"][loan["r"]] += loan["proceeds"]
    book["prin_at"][loan["r"]] += min(loan["L"], loan["proceeds"])
    book["loans"].append(loan)
    book["next_loan"] = k + 1


def next_distribution(p: dict, m: int) -> int:
    """The first distribution month after month m (the last month M at the latest)."""
    return min(p["M"], (m // p["every"] + 1) * p["every"])


def owed(p: dict, a: int, b: int, basis: float) -> float:
    """$ of management fees (on ``basis`` $) and expenses falling due in months a+1 .. b."""
    return sum(p["fee_rate"][q] / 12.0 * basis + p["expense"][q] for q in range(a + 1, b + 1))


def hold_back(p: dict, book: dict, m: int, basis: float, fair: float) -> float:
    """$ kept back at a distribution in month m < M, rounded up to the cent: what falls due
    before the next distribution, or what falls due before fund end beyond the fair value
    ($) of the live loans if more, less what commitments can still cover."""
    need = max(owed(p, m, next_distribution(p, m), basis), owed(p, m, p["M"], basis) - fair)
    short = max(0.0, need - max(p["fund_size"] - book["called"] - fl.line_out(book["lev"]), 0.0))
    return max(math.ceil(100.0 * short - CENT_SLACK), 0) / 100.0


def distribute(p: dict, book: dict, m: int, basis: float, fair: float) -> None:
    """Step 4: pay free cash ($) to the facilities, the tranches in priority order, then to
    equity."""
    if m == p["M"]:
        book["earmark"], hold = 0.0, 0.0
    else:
        hold = hold_back(p, book, m, basis, fair)
    free = fl.pay_lenders(p, book, m, book["cash"] - book["earmark"] - hold)
    if free <= 0.0:
        return
    for t in range(len(book["debt"])):
        x = min(free, book["debt"][t])
        book["debt"][t] -= x
        book["repaid"][m] += x
        book["cash"] -= x
        free -= x
    if free > 0.0:
        book["distributions"][m] = free
        book["cash"] -= free


def book_values(book: dict, m: int) -> tuple[float, float]:
    """Fair value ($) and cost ($) of the loans on the book at the end of month m."""
    fair = cost = 0.0
    for loan in book["loans"]:
        if loan["m0"] <= m < loan["r"]:
            fair += loan["fair"][m]
            cost += loan["L"]
    return fair, cost


def run_ledger(p: dict, row: dict, lev: list, ages, kinds) -> dict:
    """The whole monthly ledger of one scenario (every row in $ per month)."""
    book = new_book(p)
    for m in range(p["M"] + 1):
        receive(p, book, m)
        fl.interest(p, book, m, book_values(book, m - 1)[0] if m > 0 else 0.0)
        basis = charge(p, book, m)
        fl.sweep(p, book, m, book_values(book, m)[0])
        fl.call_back(p, book, m)
        if m < p["M"]:
            originate(p, book, row, lev, ages, kinds, m)
        fair, cost = book_values(book, m)
        if p["dist_month"][m]:
            distribute(p, book, m, basis, fair)
        lv = book["lev"]
        lv["nav_balance"][m], lv["sub_balance"][m] = lv["nav_out"], fl.line_out(lv)
        nav = book["cash"] + fair - sum(book["debt"]) - book["arrears"] - lv["nav_out"]
        nav -= lv["sub_balance"][m]
        book["nav"][m], book["unpaid"][m], book["invested"][m] = nav, book["arrears"], cost
        book["cash_end"][m] = book["cash"]
        book["nav_prev"], book["cost_prev"] = nav, cost
    return book


# --------------------------------------------------------------------------- the waterfall


def entitlement(p: dict, profit: float, pref: float) -> float:
    """GP carry ($) due on a whole-fund LP ``profit`` ($) with ``pref`` ($) of preferred return:
    catch-up at ``catch_up_rate`` until the GP holds k of the profit, then k of the rest."""
    rest = profit - pref
    if rest <= 0.0:
        return 0.0
    cu, k = p["cu"], p["k"]
    gp = 0.0
    if cu > k:
        x = min(rest, k * pref / (cu - k))
        gp = cu * x
        rest -= x
    return gp + k * rest


def lp_flows(p: dict, book: dict) -> tuple[list[float], list[float], list[float]]:
    """LP-side calls, distributions before carry ($/month) and cumulative management fees ($)."""
    c = [p["lp_share"] * x for x in book["calls"]]
    d = [p["lp_share"] * x for x in book["distributions"]]
    fees_cum, total = [], 0.0
    for x in book["management_fees"]:
        total += x
        fees_cum.append(total)
    return c, d, fees_cum


def carry_due(p: dict, ent: float, fees_cum: float, paid: float, d: float) -> float:
    """Carry ($) paid from an LP distribution ``d``: entitlement net of the fee offset, less
    what was paid before, never more than ``d``."""
    return min(max(max(ent - p["offset"] * fees_cum, 0.0) - paid, 0.0), d)


def european(p: dict, c: list, d: list, fees_cum: list) -> tuple[list[float], float]:
    """Whole-fund waterfall on cumulative flows: carry per month ($) and the final
    entitlement ($) after the fee offset (the end-of-life cap before the hurdle test)."""
    g = p["g"]
    C = P = pref_total = Dcum = Ccum = paid = 0.0
    carry = [0.0] * len(c)
    for m in range(len(c)):
        if m > 0:
            accr = (C + P) * (g - 1.0)
            P += accr
            pref_total += accr
        C += c[m]
        Ccum += c[m]
        if d[m] > 0.0:
            x = min(d[m], C)
            C -= x
            P -= min(d[m] - x, P)
            Dcum += d[m]
            ent = entitlement(p, Dcum - Ccum, pref_total)
            carry[m] = carry_due(p, ent, fees_cum[m], paid, d[m])
            paid += carry[m]
    final = max(entitlement(p, Dcum - Ccum, pref_total) - p["offset"] * fees_cum[-1], 0.0)
    return carry, final


def deal_entitlement(p: dict, state: dict, loan: dict) -> None:
    """Add one deal's (loan's) carry entitlement ($) to ``state`` after netting earlier losses."""
    c = p["lp_share"] * loan["L"]
    pi = p["lp_share"] * loan["proceeds"] - c
    if pi <= 0.0:
        state["loss"] -= pi
        return
    x = min(pi, state["loss"])
    state["loss"] -= x
    a = pi - x
    pref = c * (p["g"] ** (loan["r"] - loan["m0"]) - 1.0)
    pr = min(a, pref)
    a -= pr
    e = 0.0
    if a > 0.0 and p["cu"] > p["k"]:
        x = min(a, p["k"] * pr / (p["cu"] - p["k"]))
        e = p["cu"] * x
        a -= x
    state["ent"] += e + p["k"] * a


def american(p: dict, loans: list, c: list, d: list, fees_cum: list) -> tuple[list[float], float]:
    """Deal-by-deal waterfall: carry per month ($) and the end-of-life cap ($) before the
    hurdle test (k x whole-fund LP profit, after the fee offset)."""
    order = sorted(loans, key=lambda ln: (ln["r"], ln["k"]))
    state = dict(loss=0.0, ent=0.0)
    carry, paid, i = [0.0] * len(c), 0.0, 0
    for m in range(len(c)):
        while i < len(order) and order[i]["r"] == m:
            deal_entitlement(p, state, order[i])
            i += 1
        if d[m] > 0.0:
            carry[m] = carry_due(p, state["ent"], fees_cum[m], paid, d[m])
            paid += carry[m]
    final = max(p["k"] * (sum(d) - sum(c)) - p["offset"] * fees_cum[-1], 0.0)
    return carry, final


def waterfall(p: dict, book: dict) -> dict:
    """LP calls/distributions and GP carry per month ($) with the end-of-life true-up."""
    c, d, fees_cum = lp_flows(p, book)
    if p["european"]:
        carry, cap = european(p, c, d, fees_cum)
    else:
        carry, cap = american(p, book["loans"], c, d, fees_cum)
    npv = sum((d[m] - c[m]) * p["g"] ** (-m) for m in range(len(c)))
    if npv < -1e-9 * max(sum(c), 1.0):
        cap = 0.0
    lp = [d[m] - carry[m] for m in range(len(c))]
    excess, excess_carry = sum(carry) - cap, 0.0
    if excess > 0.0 and p["clawback"]:
        carry[-1] -= excess
        lp[-1] += excess
    elif excess > 0.0:
        excess_carry = excess
    return dict(lp_calls=c, lp_dist=lp, carry=carry, excess_carry=excess_carry)


# --------------------------------------------------------------------------- metrics


def ratio(num: float, den: float) -> float:
    """num / den, NaN when den <= 0."""
    return num / den if den > 0.0 else math.nan


def metrics(p: dict, book: dict, wf: dict) -> dict:
    """Per-scenario metrics: IRRs (annual), multiples, $ amounts, counts, years."""
    N = p["M"] + 1
    paid_in = sum(wf["lp_calls"])
    dpi = ratio(sum(wf["lp_dist"]), paid_in)
    rvpi = ratio(p["lp_share"] * book["nav"][-1], paid_in)
    loans = book["loans"]
    deployed = sum(ln["L"] for ln in loans)
    return dict(
        lp_irr=irr_annual([wf["lp_dist"][m] - wf["lp_calls"][m] for m in range(N)]),
        fund_irr=irr_annual([book["distributions"][m] - book["calls"][m] for m in range(N)]),
        gross_irr=irr_annual([book["proceeds"][m] - book["advances"][m] for m in range(N)]),
        lp_dpi=dpi, lp_rvpi=rvpi, lp_tvpi=dpi + rvpi, gp_carry=sum(wf["carry"]),
        management_fees=sum(book["management_fees"]), fund_expenses=sum(book["expenses"]),
        fees_paid=sum(book["fees_paid"]), unpaid_fees=book["arrears"],
        excess_carry=wf["excess_carry"], num_loans=float(len(loans)), deployed_capital=deployed,
        loss_rate=ratio(sum(max(ln["L"] - ln["proceeds"], 0.0) for ln in loans), deployed),
        wal_years=ratio(sum(ln["L"] * (ln["r"] - ln["m0"]) / 12.0 for ln in loans), deployed),
        **contract_metrics(loans),
    )


def simulate_scenario(cfg, pool_row: dict, levels, exit_age, exit_kind) -> dict:
    """One scenario of the fund.

    cfg: a FundConfig or anything :func:`equihome.io.config.load_config` accepts.
    pool_row: this scenario's pool, pool order: ``size`` ($), ``ltv``, ``zone`` (0 green,
    1 orange, 2 red), ``suburb`` (global index), ``z_home`` (K, 2) normals of the home walk.
    levels: suburb price levels (M+1, J), 1 at month 0.
    exit_age, exit_kind: per pool loan, months from origination to exit and the exit kind
    (used only for the loans this model makes).

    Returns ``metrics`` (dict of per-scenario metrics), ``ledger`` (dict of monthly lists in
    $: calls, distributions, nav, advances, proceeds, fees_paid, unpaid, ...), ``orig`` (the
    origination month of each pool loan, -1 when not made), ``waterfall`` (monthly LP calls,
    LP distributions and carry in $, and ``excess_carry``) and ``loans`` (one dict per loan
    made: ``k``, ``L``, ``m0``, exit month ``m``, receipt month ``r``, ``kind``, ``proceeds``),
    ``lever`` (the facilities' monthly rows, fund_leverage.ROWS) and, with a facility,
    ``leverage`` (its metrics, fund_leverage.metrics).
    """
    cfg = cfg if isinstance(cfg, FundConfig) else load_config(cfg)
    p = params(cfg)
    lev = [list(map(float, r)) for r in levels]
    book = run_ledger(p, pool_row, lev, exit_age, exit_kind)
    wf = waterfall(p, book)
    orig = [-1] * len(pool_row["size"])
    for ln in book["loans"]:
        orig[ln["k"]] = ln["m0"]
    ledger = {name: book[name] for name in LEDGER}
    out = dict(metrics=metrics(p, book, wf), ledger=ledger, orig=orig, waterfall=wf,
               loans=book["loans"], lever={name: book["lev"][name] for name in fl.ROWS})
    if p["lev"]["nav"] or p["lev"]["line"]:  # the LP IRR again, as if there were no line
        calls, dists = fl.unlevered(book)
        wf_u = waterfall(p, {**book, "calls": calls, "distributions": dists})
        irr_u = irr_annual([a - b for a, b in zip(wf_u["lp_dist"], wf_u["lp_calls"], strict=True)])
        out["leverage"] = fl.metrics(book, out["metrics"]["lp_irr"], irr_u)
    return out
