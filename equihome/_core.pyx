"""Cython kernels for the hot loops of the engine.

Each public function here has a twin with the same name and signature in
``equihome/reference.py`` (plain numpy); the tests hold the two against each other.
Conventions shared by both:

* months are integer offsets from the fund's month 0; ``M`` is the last month;
* money is in dollars, rates are per year unless the name says ``_m`` (per month);
* outputs are preallocated by the caller and fully overwritten here;
* every loop runs without the GIL, so two threads use two cores.

Compiler directives (boundscheck, wraparound, cdivision, ...) are set once in setup.py.
"""

import numpy as np

from libc.math cimport ceil, exp, sqrt, pow, INFINITY, NAN

cdef inline f8 fmin(f8 a, f8 b) noexcept nogil:
    """Smaller of two finite numbers (inlined; libm's fmin is a call)."""
    return a if a < b else b


cdef inline f8 fmax(f8 a, f8 b) noexcept nogil:
    """Larger of two finite numbers (inlined; libm's fmax is a call)."""
    return a if a > b else b

# The ledger's rows and the exit kinds come from one source, equihome/layout.py.
from .layout import COL as _COL, ExitKind as _ExitKind, check_ledger_shapes

cdef Py_ssize_t C_CALLS = _COL["calls"], C_DIST = _COL["distributions"], C_NAV = _COL["nav"]
cdef Py_ssize_t C_ADV = _COL["advances"], C_PROC = _COL["proceeds"]
cdef Py_ssize_t C_MFEE = _COL["management_fees"], C_EXP = _COL["expenses"]
cdef Py_ssize_t C_TXN = _COL["transaction_fees"], C_FEEINC = _COL["fee_income"]
cdef Py_ssize_t C_DDRAW = _COL["debt_draws"], C_DSERV = _COL["debt_service"]
cdef Py_ssize_t C_UNPAID = _COL["unpaid_fees"], C_COST = _COL["invested_capital"]
cdef Py_ssize_t C_CASH = _COL["cash"], C_FPAID = _COL["fees_paid"]
cdef Py_ssize_t C_DINT = _COL["debt_interest"]
cdef int EXIT_NONE = _ExitKind.NONE, EXIT_SALE = _ExitKind.SALE, EXIT_REFI = _ExitKind.REFI
cdef int EXIT_DEFAULT = _ExitKind.DEFAULT, EXIT_MATURITY = _ExitKind.MATURITY
cdef int EXIT_LIQUIDATION = _ExitKind.LIQUIDATION

cdef double DT = 1.0 / 12.0  # one month, in years

# --------------------------------------------------------------------------- price paths


def price_paths(const f8[:, :, ::1] eps, const f8[:, ::1] u_regime, const f8[::1] mu,
                const f8[::1] sigma, int model, f8 kappa, const f8[::1] regime,
                f8[:, :, ::1] out):
    """Zone log-price indices ``out[s, m, z]`` (0 at month 0) from correlated shocks.

    IN eps: (S, M, Z) correlated standard normals; u_regime: (S, M+1) uniforms;
    mu, sigma: (Z,) annual drift and volatility per zone; model 0 gbm, 1 mean_reversion,
    2 regime_switching; kappa: OU speed per year; regime: (6,) [bull_offset, bear_offset,
    p_bull_to_bear_m, p_bear_to_bull_m, bear_vol_multiplier, stationary_bear_prob].
    OUT out: (S, M+1, Z) log indices.
    gbm and mean_reversion keep E[exp(out)] = exp(mu t) exactly; regime_switching does not
    (the random sum of regime offsets lifts the mean, see price_path_simulator).
    """
    cdef Py_ssize_t S = eps.shape[0], M = eps.shape[1], Z = eps.shape[2]
    cdef Py_ssize_t s, m, z
    cdef f8 sq = sqrt(DT), a, sd_step, x, var, drift, sig
    cdef int bear
    with nogil:
        for s in range(S):
            for z in range(Z):
                out[s, 0, z] = 0.0
            if model == 0:
                for m in range(M):
                    for z in range(Z):
                        out[s, m + 1, z] = (out[s, m, z] + (mu[z] - 0.5 * sigma[z] * sigma[z]) * DT
                                            + sigma[z] * sq * eps[s, m, z])
            elif model == 1:
                a = exp(-kappa * DT)
                for z in range(Z):
                    sd_step = sigma[z] * sqrt((1.0 - a * a) / (2.0 * kappa))
                    x = 0.0
                    var = 0.0
                    for m in range(M):
                        x = a * x + sd_step * eps[s, m, z]
                        var = a * a * var + sd_step * sd_step
                        out[s, m + 1, z] = mu[z] * (m + 1) * DT + x - 0.5 * var
            else:
                bear = 1 if u_regime[s, 0] < regime[5] else 0
                for m in range(M):
                    for z in range(Z):
                        drift = mu[z] + (regime[1] if bear else regime[0])
                        sig = sigma[z] * (regime[4] if bear else 1.0)
                        out[s, m + 1, z] = (out[s, m, z] + (drift - 0.5 * sig * sig) * DT
                                            + sig * sq * eps[s, m, z])
                    if bear:
                        if u_regime[s, m + 1] < regime[3]:
                            bear = 0
                    elif u_regime[s, m + 1] < regime[2]:
                        bear = 1


def index_levels(const f8[:, :, ::1] zone_log, const f8[:, :, ::1] sub_eps,
                 const i4[::1] zone_of, f8 sigma_sub, f8[:, :, ::1] out):
    """Suburb price levels ``out[s, m, j] = exp(zone_log[s, m, zone_of[j]] + W_j(m))``.

    W_j is the suburb's cumulative random walk with the Ito term, so E[exp(W_j)] = 1.
    IN zone_log: (S, M+1, Z) from price_paths; sub_eps: (S, M, J) standard normals;
    zone_of: (J,) zone of each suburb; sigma_sub: annual volatility of the walk.
    OUT out: (S, M+1, J) price levels (1 at month 0 for a flat zone).
    """
    cdef Py_ssize_t S = sub_eps.shape[0], M = sub_eps.shape[1], J = sub_eps.shape[2]
    cdef Py_ssize_t s, m, j
    cdef f8 step = -0.5 * sigma_sub * sigma_sub * DT, vol = sigma_sub * sqrt(DT)
    cdef f8 acc
    with nogil:
        for s in range(S):
            for j in range(J):
                acc = 0.0
                out[s, 0, j] = exp(zone_log[s, 0, zone_of[j]])
                for m in range(M):
                    acc = acc + (step + vol * sub_eps[s, m, j])
                    out[s, m + 1, j] = exp(zone_log[s, m + 1, zone_of[j]] + acc)


# --------------------------------------------------------------------------- loan book


def assign_zones(const f8[:, ::1] size, const f8[:, ::1] u_suburb, const f8[::1] alloc,
                 int n_sub, i4[:, ::1] zone, i4[:, ::1] suburb):
    """Give each pool loan, in origination order, the zone furthest below its target.

    The target for zone z after adding a loan of size L is alloc[z] * (deployed + L);
    the zone with the largest shortfall wins (ties: lowest index), so capital by zone
    tracks the allocation within one ticket. The suburb is uniform within the zone.
    IN size: (S, K) advances, $; u_suburb: (S, K) uniforms; alloc: (Z,) target shares, Z <= 8;
    n_sub: suburbs per zone. OUT zone, suburb: (S, K) zone index and global suburb index.
    """
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], Z = alloc.shape[0]
    cdef Py_ssize_t s, k, z
    cdef i4 best, sub
    cdef f8 total, L, d, best_d
    cdef f8 dep[8]
    if Z > 8:
        raise ValueError(f"assign_zones: at most 8 zones fit its table, got {Z}")
    with nogil:
        for s in range(S):
            total = 0.0
            for z in range(Z):
                dep[z] = 0.0
            for k in range(K):
                L = size[s, k]
                best = 0
                best_d = -INFINITY
                for z in range(Z):
                    if alloc[z] <= 0.0:
                        continue
                    d = alloc[z] * (total + L) - dep[z]
                    if d > best_d:
                        best_d = d
                        best = <i4>z
                dep[best] += L
                total += L
                zone[s, k] = best
                sub = <i4>(u_suburb[s, k] * n_sub)
                if sub > n_sub - 1:
                    sub = n_sub - 1
                suburb[s, k] = best * n_sub + sub


# --------------------------------------------------------------------------- ledger
# The structures (LedgerParams, Tables, Pool, Book, Fund) are declared in _core.pxd.

cdef struct LoanExit:
    int month                   # event month (exit or default)
    int receipt                 # month the cash arrives
    int kind
    double proceeds


cdef inline f8 claim_value(const LedgerParams* p, const Tables* t, f8 L, f8 accrual, f8 V0,
                           f8 share_v0, f8 ratio, int tau) noexcept nogil:
    """The fund's claim ($) tau months after origination on a home now worth V0*ratio.

    accrual: L * rate / 12 ($ of simple interest a month); share_v0: share * V0, so the
    appreciation (or, with share_depreciation, depreciation) term is share_v0 * gain.
    """
    cdef f8 gain = ratio - 1.0
    cdef f8 claim = L + accrual * tau
    cdef f8 lo = 0.0, hi, acc = 0.0
    cdef int i
    if gain > 0.0:
        if p.share_method == 2:
            for i in range(p.n_tiers + 1):
                if gain <= lo:
                    break
                hi = t.tier_thr[i] if i < p.n_tiers else INFINITY
                acc = acc + t.tier_share[i] * (fmin(gain, hi) - lo)
                lo = hi
            claim = claim + acc * V0
        else:
            claim = claim + share_v0 * gain
    elif p.share_depreciation:
        claim = claim + share_v0 * gain
    if p.has_cap:
        claim = fmin(claim, L * t.cap_factor[tau])
    claim = fmin(claim, V0 * ratio)
    return fmax(claim, 0.0)


cdef void walk_loan(const LedgerParams* p, const Tables* t, const Pool* pool, Py_ssize_t k,
                    int m0, Fund* f, LoanExit* out) noexcept nogil:
    """Follow pool loan k from month m0 to its exit; add its fair value to NAV while alive.

    The exit is an exponential race: the loan leaves in the first month whose
    cumulative annual hazard, summed monthly, reaches 12 x its Exp(1) draw ``e_exit`` (the
    same law as a monthly exit probability 1 - exp(-h/12)); ``u_cause`` picks the cause in
    proportion to the hazards. z_home: normals of the home's own walk to exit and over
    the foreclosure delay. OUT: ``out`` and the loan's part of f.nav_loans and f.cost_at.
    """
    cdef Py_ssize_t J = pool.J, j = pool.suburb[k]
    cdef const f8* lev = pool.lev
    cdef f8* nav_loans = f.nav_loans
    cdef f8* cost_at = f.cost_at
    cdef f8 L = pool.size[k], ltv = pool.ltv[k]
    cdef int z = pool.zone[k]
    cdef f8 V0 = L / ltv
    cdef f8 inv0 = 1.0 / lev[m0 * J + j]
    cdef f8 share = ltv if p.share_method == 0 else (
        t.tier_share[0] if p.share_method == 2 else p.fixed_share)
    cdef f8 accrual = L * p.loan_rate * DT, share_v0 = share * V0
    cdef f8 hd0 = t.default_rate[z], hdc = t.default_rate[z] * p.default_mult
    cdef f8 hsa = p.sale_hazard * p.sale_mult, hrb = p.refi_hazard * p.refi_mult
    cdef f8 target = 12.0 * pool.e_exit[k]
    cdef int M = p.months
    cdef int mat = m0 + p.loan_term_months
    cdef int last = mat if mat < M else M
    cdef int m = m0, q, tau, r, kind = EXIT_NONE
    cdef f8 H = 0.0, ratio, claim, gain, hs, hr, hd, ht, x, lv, hh, hh2, vr, proceeds
    cdef f8 s2 = p.home_sigma * p.home_sigma
    nav_loans[m0] += L
    cost_at[m0] += L
    for m in range(m0 + 1, last + 1):
        tau = m - m0
        ratio = lev[m * J + j] * inv0
        claim = claim_value(p, t, L, accrual, V0, share_v0, ratio, tau)
        gain = ratio - 1.0
        hd = hd0 - hdc * gain if gain < 0.0 else hd0
        if tau >= p.min_hold_months:
            hs = p.sale_hazard + hsa * gain if gain > 0.0 else p.sale_hazard
            lv = claim / (V0 * ratio)
            hr = p.refi_hazard + hrb * (p.refi_threshold - lv) if lv < p.refi_threshold else p.refi_hazard
        else:
            hs = 0.0
            hr = 0.0
        ht = hs + hr + hd
        H = H + ht
        if ht > 0.0 and H >= target:
            x = pool.u_cause[k] * ht
            if x < hs:
                kind = EXIT_SALE
            elif x < hs + hr:
                kind = EXIT_REFI
            else:
                kind = EXIT_DEFAULT
            break
        if m == last:
            kind = EXIT_MATURITY if m == mat else EXIT_LIQUIDATION
            break
        nav_loans[m] += claim
        cost_at[m] += L
    tau = m - m0
    hh = exp(p.home_sigma * sqrt(tau / 12.0) * pool.z_home[2 * k] - 0.5 * s2 * tau / 12.0)
    claim = claim_value(p, t, L, accrual, V0, share_v0, lev[m * J + j] * inv0 * hh, tau)
    r = m
    if kind == EXIT_DEFAULT:
        r = m + p.foreclosure_lag
        if r > M:
            r = M
        hh2 = hh * exp(p.home_sigma * sqrt((r - m) / 12.0) * pool.z_home[2 * k + 1]
                       - 0.5 * s2 * (r - m) / 12.0)
        vr = V0 * (lev[r * J + j] * inv0) * hh2
        proceeds = fmin(claim, vr * (1.0 - p.foreclosure_cost)) * t.recovery[z]
        for q in range(m, r):
            nav_loans[q] += fmin(claim, V0 * (lev[q * J + j] * inv0) * (1.0 - p.foreclosure_cost)) * t.recovery[z]
            cost_at[q] += L
    elif kind == EXIT_LIQUIDATION:
        proceeds = claim * (1.0 - p.liquidation_discount)
    else:
        proceeds = claim
    out.month = m
    out.receipt = r
    out.kind = kind
    out.proceeds = proceeds


cdef inline f8 owed_between(const Tables* t, f8 basis, int m, int h) noexcept nogil:
    """Management fees (on ``basis``, $) and expenses ($) falling due in months m+1..h."""
    return (basis * (t.rate_cum[h + 1] - t.rate_cum[m + 1]) / 12.0
            + (t.expense_cum[h + 1] - t.expense_cum[m + 1]))


cdef f8 fund_need(Fund* f, const Tables* t, Book* o, Py_ssize_t N, f8 amount,
                  f8 cap) noexcept nogil:
    """Pay ``amount`` ($) from cash, then debt (priority order), then equity calls while
    called < ``cap``. Returns what could not be paid (0 when fully funded)."""
    cdef f8 use = fmin(f.cash, amount), d
    cdef Py_ssize_t tt
    f.cash -= use
    amount -= use
    for tt in range(t.NT):
        if amount <= 0.0:
            break
        d = fmin(amount, t.tr_size[tt] - f.debt_out[tt])
        if d > 0.0:
            f.debt_out[tt] += d
            o.ledger[C_DDRAW * N + f.m] += d
            o.debt[tt * N + f.m] -= d
            amount -= d
    if amount > 0.0:
        d = fmin(amount, fmax(cap - f.called, 0.0))
        f.called += d
        o.ledger[C_CALLS * N + f.m] += d
        amount -= d
    return fmax(amount, 0.0)


def calendar(const f8[::1] fee_rate, const f8[::1] expense, const unsigned char[::1] dist_mask,
             f8[::1] rate_cum, f8[::1] expense_cum, i4[::1] next_dist):
    """Running sums of fee_rate and expense (months < m) and the next distribution month.

    IN fee_rate, expense, dist_mask (M+1,). OUT rate_cum, expense_cum (M+2,); next_dist
    (M+1,): the first month q > m paying out (dist_mask or q = M), M at M itself. They size
    the hold-back before a distribution.
    """
    cdef Py_ssize_t N = fee_rate.shape[0], m
    cdef i4 nxt = <i4>(N - 1)
    rate_cum[0] = 0.0
    expense_cum[0] = 0.0
    for m in range(N):
        rate_cum[m + 1] = rate_cum[m] + fee_rate[m]
        expense_cum[m + 1] = expense_cum[m] + expense[m]
    for m in range(N - 1, -1, -1):
        next_dist[m] = nxt
        if dist_mask[m] or m == N - 1:
            nxt = <i4>m
    next_dist[N - 1] = <i4>(N - 1)


def run_ledger(LedgerParams p, inp, out):
    """Run each scenario's fund month by month: originate, exit, pay, call, distribute.

    IN p: the run's scalars (a dict with LedgerParams' fields); inp: an
    ``exit_simulator.LedgerInputs`` (pool arrays (S, K) in origination order, z_home
    (S, K, 2), levels (S, M+1, J), and the run's monthly tables (M+1,): schedule ($ of
    initial origination made available), fee_rate (annual management-fee rate), expense
    ($, setup included), dist_mask (1 = distribution month), plus per-zone default_rate
    and recovery, the tier table, cap_factor and the tranches in priority order).
    OUT out: an ``exit_simulator.LedgerRun``: ledger (S, len(LEDGER_COLUMNS), M+1);
    debt_flows (S, NT, M+1) from each lender's side (draws negative); per-loan months,
    exit kind, reinvested flag and proceeds ($, at the receipt month; -1 months for loans
    never made); pool_exhausted[s] = 1 if the pool ran out while budget remained.

    Each month, in this order (one function each): receive, charge, originate,
    distribute, mark. Money owed never vanishes: a charge that cannot be paid
    (commitments exhausted) is an arrear, paid first from the next cash in; before each
    distribution the fund holds back the fees and expenses due until the next
    distribution, or, if more, what the live book at fair value cannot cover of those due
    until fund end, less what uncalled commitments can pay; what is still owed at fund
    end stays in the unpaid_fees column and reduces NAV.
    """
    cdef const f8[:, ::1] size = inp.size, ltv = inp.ltv, e_exit = inp.e_exit
    cdef const f8[:, ::1] u_cause = inp.u_cause
    cdef const i4[:, ::1] zone = inp.zone, suburb = inp.suburb
    cdef const f8[:, :, ::1] z_home = inp.z_home, levels = inp.levels
    cdef const f8[::1] schedule = inp.schedule, fee_rate = inp.fee_rate, expense = inp.expense
    cdef const unsigned char[::1] dist_mask = inp.dist_mask
    cdef const f8[::1] default_rate = inp.default_rate, recovery = inp.recovery
    cdef const f8[::1] tier_thr = inp.tier_thr, tier_share = inp.tier_share
    cdef const f8[::1] cap_factor = inp.cap_factor, tranche_size = inp.tranche_size
    cdef const f8[::1] tranche_rate_m = inp.tranche_rate_m
    cdef f8[:, :, ::1] ledger = out.ledger, debt_flows = out.debt_flows
    cdef i4[:, ::1] orig_month = out.orig_month, exit_month = out.exit_month
    cdef i4[:, ::1] receipt_month = out.receipt_month
    cdef i1[:, ::1] exit_type = out.exit_type, reinvested = out.reinvested
    cdef f8[:, ::1] proceeds = out.proceeds
    cdef i1[::1] pool_exhausted = out.pool_exhausted
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], J = levels.shape[2]
    cdef Py_ssize_t N = p.months + 1, NT = tranche_size.shape[0], s
    check_ledger_shapes(p.months, p.n_tiers, inp, out)
    cdef f8[:, ::1] scratch = np.zeros((S, 5 * N + NT + 1))
    cdef f8[::1] rate_cum = np.zeros(N + 1)
    cdef f8[::1] expense_cum = np.zeros(N + 1)
    cdef i4[::1] next_dist = np.empty(N, dtype=np.intc)
    calendar(fee_rate, expense, dist_mask, rate_cum, expense_cum, next_dist)
    cdef Tables t
    t.schedule = &schedule[0]
    t.fee_rate = &fee_rate[0]
    t.expense = &expense[0]
    t.dist_mask = &dist_mask[0]
    t.rate_cum = &rate_cum[0]
    t.expense_cum = &expense_cum[0]
    t.next_dist = &next_dist[0]
    t.tier_thr = &tier_thr[0]
    t.tier_share = &tier_share[0]
    t.cap_factor = &cap_factor[0]
    t.default_rate = &default_rate[0]
    t.recovery = &recovery[0]
    t.tr_size = &tranche_size[0] if NT else NULL
    t.tr_rate = &tranche_rate_m[0] if NT else NULL
    t.NT = NT
    cdef Pool pool
    cdef Book o
    pool.K = K
    pool.J = J
    with nogil:
        for s in range(S):
            ledger[s, :, :] = 0.0
            debt_flows[s, :, :] = 0.0
            orig_month[s, :] = -1
            exit_month[s, :] = -1
            receipt_month[s, :] = -1
            exit_type[s, :] = EXIT_NONE
            reinvested[s, :] = 0
            proceeds[s, :] = 0.0
            pool.size = &size[s, 0]
            pool.ltv = &ltv[s, 0]
            pool.zone = &zone[s, 0]
            pool.suburb = &suburb[s, 0]
            pool.e_exit = &e_exit[s, 0]
            pool.u_cause = &u_cause[s, 0]
            pool.z_home = &z_home[s, 0, 0]
            pool.lev = &levels[s, 0, 0]
            o.ledger = &ledger[s, 0, 0]
            o.debt = &debt_flows[s, 0, 0] if NT else NULL
            o.orig_month = &orig_month[s, 0]
            o.exit_month = &exit_month[s, 0]
            o.receipt_month = &receipt_month[s, 0]
            o.exit_type = &exit_type[s, 0]
            o.reinvested = &reinvested[s, 0]
            o.proceeds = &proceeds[s, 0]
            pool_exhausted[s] = ledger_one(&p, &t, &pool, &o, &scratch[s, 0])


cdef i1 ledger_one(const LedgerParams* p, const Tables* t, const Pool* pool, Book* o,
                   f8* scratch) noexcept nogil:
    """One scenario of run_ledger; returns 1 if the loan pool ran out."""
    cdef Py_ssize_t N = p.months + 1
    cdef Fund f
    cdef int m
    f.m = 0
    f.k = 0
    f.cash = 0.0
    f.called = 0.0
    f.arrears = 0.0
    f.earmark = 0.0
    f.sched = 0.0
    f.basis = 0.0
    f.nav_prev = 0.0
    f.cost_prev = 0.0
    f.exhausted = 0
    f.proc_at = scratch
    f.prin_at = scratch + N
    f.nav_loans = scratch + 2 * N
    f.cost_at = scratch + 3 * N
    f.disp_at = scratch + 4 * N
    f.debt_out = scratch + 5 * N
    for m in range(N):
        f.m = m
        receive(p, &f, o, N)
        charge(p, t, &f, o, N)
        originate(p, t, pool, &f, o, N)
        distribute(p, t, &f, o, N)
        mark(t, &f, o, N)
    return f.exhausted


cdef void receive(const LedgerParams* p, Fund* f, Book* o, Py_ssize_t N) noexcept nogil:
    """1. Proceeds arrive; principal received in the reinvestment period is earmarked."""
    cdef int m = f.m
    f.cash += f.proc_at[m]
    o.ledger[C_PROC * N + m] = f.proc_at[m]
    if m < p.reinvest_end:
        f.earmark += p.reinvest_rate * f.prin_at[m]
    else:
        f.earmark = 0.0


cdef void charge(const LedgerParams* p, const Tables* t, Fund* f, Book* o,
                 Py_ssize_t N) noexcept nogil:
    """2. Management fee, expenses, disposition fees and debt interest fall due; with the
    arrears they are paid from cash, debt, then calls; what is left is the new arrears."""
    cdef int m = f.m, M = p.months
    cdef f8 mfee = 0.0, interest = 0.0, x, need
    cdef Py_ssize_t tt
    if m < M:
        if p.fee_basis == 0:
            f.basis = p.fund_size
        elif p.fee_basis == 1:
            f.basis = f.cost_prev
        else:
            f.basis = fmax(f.nav_prev, 0.0)
        mfee = t.fee_rate[m] / 12.0 * f.basis
    for tt in range(t.NT):
        x = f.debt_out[tt] * t.tr_rate[tt]
        o.debt[tt * N + m] += x
        interest += x
    o.ledger[C_MFEE * N + m] = mfee
    o.ledger[C_EXP * N + m] = t.expense[m]
    o.ledger[C_TXN * N + m] += f.disp_at[m]
    o.ledger[C_DSERV * N + m] += interest
    o.ledger[C_DINT * N + m] = interest
    need = f.arrears + mfee + t.expense[m] + f.disp_at[m] + interest
    f.arrears = fund_need(f, t, o, N, need, p.fund_size)
    o.ledger[C_FPAID * N + m] += need - f.arrears


cdef void originate(const LedgerParams* p, const Tables* t, const Pool* pool, Fund* f,
                    Book* o, Py_ssize_t N) noexcept nogil:
    """3. New loans, in pool order, while the schedule and recycled principal allow and
    capital remains (origination stops before capital runs out)."""
    cdef int m = f.m
    cdef Py_ssize_t k, tt
    cdef f8 L, V0, net, avail, use_e
    cdef LoanExit ex
    if m >= p.months:
        return
    if m < p.deploy_end:
        f.sched += t.schedule[m]
    else:
        f.sched = 0.0
    while True:
        k = f.k
        if k == pool.K:
            if f.sched + f.earmark >= p.min_loan_size:
                f.exhausted = 1
            break
        L = pool.size[k]
        if L > f.sched + f.earmark:
            break
        V0 = L / pool.ltv[k]
        net = L * (1.0 - p.fee_in_rate) + p.acquisition_rate * V0
        avail = f.cash + fmax(p.origination_cap - f.called, 0.0)
        for tt in range(t.NT):
            avail += t.tr_size[tt] - f.debt_out[tt]
        if net > avail:
            break  # capital exhausted: origination stops first
        fund_need(f, t, o, N, net, p.origination_cap)
        use_e = fmin(f.earmark, L)
        f.earmark -= use_e
        f.sched -= L - use_e
        o.reinvested[k] = 1 if use_e >= 0.5 * L else 0
        o.ledger[C_ADV * N + m] += L
        o.ledger[C_FEEINC * N + m] += L * p.fee_in_rate
        o.ledger[C_TXN * N + m] += p.acquisition_rate * V0
        o.ledger[C_FPAID * N + m] += p.acquisition_rate * V0
        walk_loan(p, t, pool, k, m, f, &ex)
        o.orig_month[k] = m
        o.exit_month[k] = ex.month
        o.receipt_month[k] = ex.receipt
        o.exit_type[k] = <i1>ex.kind
        o.proceeds[k] = ex.proceeds
        f.proc_at[ex.receipt] += ex.proceeds
        f.prin_at[ex.receipt] += fmin(L, ex.proceeds)
        f.disp_at[ex.receipt] += p.disposition_rate * ex.proceeds
        f.k = k + 1


cdef void distribute(const LedgerParams* p, const Tables* t, Fund* f, Book* o,
                     Py_ssize_t N) noexcept nogil:
    """4. In a distribution month (and at fund end): hold back what falls due, repay debt
    in priority order, pay out the rest."""
    cdef int m = f.m, M = p.months
    cdef f8 hold = 0.0, owed, free, x
    cdef Py_ssize_t tt
    if not (t.dist_mask[m] or m == M):
        return
    if m == M:
        f.earmark = 0.0
    else:
        # the fees and expenses due until the next distribution, or what the live book at
        # fair value cannot cover of those due until fund end if more, less what uncalled
        # commitments can still pay; rounded up to the cent
        owed = fmax(owed_between(t, f.basis, m, t.next_dist[m]),
                    owed_between(t, f.basis, m, M) - f.nav_loans[m])
        hold = ceil(100.0 * fmax(owed - fmax(p.fund_size - f.called, 0.0), 0.0)) / 100.0
    free = f.cash - f.earmark - hold
    for tt in range(t.NT):
        if free <= 0.0:
            break
        x = fmin(free, f.debt_out[tt])
        f.debt_out[tt] -= x
        o.debt[tt * N + m] += x
        o.ledger[C_DSERV * N + m] += x
        f.cash -= x
        free -= x
    if free > 0.0:
        o.ledger[C_DIST * N + m] = free
        f.cash -= free


cdef void mark(const Tables* t, Fund* f, Book* o, Py_ssize_t N) noexcept nogil:
    """5. Month end: NAV (cash + live loans at fair value - debt - arrears), invested
    capital, arrears and cash."""
    cdef int m = f.m
    cdef f8 debt_total = 0.0
    cdef Py_ssize_t tt
    for tt in range(t.NT):
        debt_total += f.debt_out[tt]
    o.ledger[C_NAV * N + m] = f.cash + f.nav_loans[m] - debt_total - f.arrears
    o.ledger[C_COST * N + m] = f.cost_at[m]
    o.ledger[C_UNPAID * N + m] = f.arrears
    o.ledger[C_CASH * N + m] = f.cash
    f.nav_prev = o.ledger[C_NAV * N + m]
    f.cost_prev = f.cost_at[m]


# --------------------------------------------------------------------------- waterfall


cdef inline f8 entitlement(f8 profit, f8 pref, f8 catch_up, f8 carry) noexcept nogil:
    """GP carry ($) on a cumulative LP profit ($) of which ``pref`` ($) is preferred return.

    Tiers on the profit: the pref to the LPs, catch-up at ``catch_up`` until the GP holds
    ``carry`` of the profit so far, then the split; 0 while the profit is within the pref.
    """
    cdef f8 r = profit - pref, x, g = 0.0
    if r <= 0.0:
        return 0.0
    if catch_up > carry:
        x = fmin(r, carry * pref / (catch_up - carry))
        g = catch_up * x
        r = r - x
    return g + carry * r


cdef inline f8 carry_cap(f8 npv, f8 called, f8 entitled, f8 offset_fees) noexcept nogil:
    """Most carry ($) the GP may keep at fund end: 0 when the LPs' whole-life flows before
    carry miss the hurdle (NPV at the pref rate < 0), else the final entitlement less the
    fee offset."""
    if npv < -1e-9 * fmax(called, 1.0):
        return 0.0
    return fmax(entitled - offset_fees, 0.0)


def waterfall_european(const f8[:, ::1] calls, const f8[:, ::1] dist, const f8[:, ::1] fees,
                       f8 lp_share, f8 growth_m, f8 catch_up, f8 carry, f8 offset, int clawback,
                       f8[:, ::1] lp_dist, f8[:, ::1] gp_carry, f8[::1] excess):
    """Whole-fund waterfall on cumulative, dated monthly flows, with true-up and clawback.

    IN calls, dist (S, N): the fund's equity calls and distributions, $; the LP side is
    ``lp_share`` of each (the GP's own commitment goes pari passu, carry free). IN fees
    (S, N): management fees charged, $ (``offset`` x their running sum reduces carry).
    The pref compounds by ``growth_m`` a month on unreturned capital and unpaid pref from
    each call's month (distributions pay capital, then pref). At each distribution the
    GP's entitlement is recomputed on the cumulative flows to date (profit so far, all
    pref accrued so far): carry paid never runs ahead of it, so capital called after
    carry was paid is returned with its pref before more carry. At fund end the GP keeps
    at most its final entitlement, and nothing if the LPs' whole-life IRR before carry is
    below the hurdle; the excess is clawed back to the LPs in the last month when
    ``clawback`` (a negative gp_carry), else reported in OUT ``excess`` (S,), $.
    OUT lp_dist, gp_carry (S, N), $: lp_dist + gp_carry = lp_share * dist.
    """
    cdef Py_ssize_t S = calls.shape[0], N = calls.shape[1], s, m
    cdef f8 C, P, pref, D, Dcum, Ccum, paid, fcum, x, gp, accr, npv, disc, over
    with nogil:
        for s in range(S):
            C = 0.0
            P = 0.0
            pref = 0.0
            Dcum = 0.0
            Ccum = 0.0
            paid = 0.0
            fcum = 0.0
            npv = 0.0
            disc = 1.0
            for m in range(N):
                if m > 0:
                    accr = (C + P) * (growth_m - 1.0)
                    P = P + accr
                    pref = pref + accr
                C = C + lp_share * calls[s, m]
                Ccum = Ccum + lp_share * calls[s, m]
                fcum = fcum + fees[s, m]
                D = lp_share * dist[s, m]
                npv = npv + (D - lp_share * calls[s, m]) * disc
                disc = disc / growth_m
                gp = 0.0
                if D > 0.0:
                    x = fmin(D, C)
                    C = C - x
                    P = P - fmin(D - x, P)
                    Dcum = Dcum + D
                    x = entitlement(Dcum - Ccum, pref, catch_up, carry)
                    gp = fmin(fmax(fmax(x - offset * fcum, 0.0) - paid, 0.0), D)
                    paid = paid + gp
                lp_dist[s, m] = D - gp
                gp_carry[s, m] = gp
            over = paid - carry_cap(npv, Ccum, entitlement(Dcum - Ccum, pref, catch_up, carry),
                                    offset * fcum)
            excess[s] = 0.0
            if over > 0.0:
                if clawback:
                    gp_carry[s, N - 1] = gp_carry[s, N - 1] - over
                    lp_dist[s, N - 1] = lp_dist[s, N - 1] + over
                else:
                    excess[s] = over


def waterfall_american(const f8[:, ::1] calls, const f8[:, ::1] dist, const f8[:, ::1] fees,
                       const i4[:, ::1] orig, const i4[:, ::1] receipt, const f8[:, ::1] adv,
                       const f8[:, ::1] proceeds, f8 lp_share, f8 growth_m, f8 catch_up,
                       f8 carry, f8 offset, int clawback, f8[:, ::1] lp_dist,
                       f8[:, ::1] gp_carry, f8[::1] excess):
    """Deal-by-deal waterfall: each loan is a deal, realised losses netted before carry.

    A deal's carry is earned when its cash arrives: profit first refills earlier
    realised losses, then the deal's pref (``growth_m`` per month on its advance), then
    catch-up and split. Earned carry is paid from the next distributions. At the end the
    GP keeps at most ``carry`` x the whole-fund LP profit (less the fee offset), and nothing
    if the LPs' whole-life IRR before carry is below the hurdle; the excess is returned to
    the LPs in the last month with ``clawback`` (a negative gp_carry), else reported in OUT
    ``excess`` (S,), $. Deals are visited in receipt-month order, then pool order.
    IN calls, dist, fees (S, N), $ as in waterfall_european; orig, receipt (S, K) months
    (-1: loan never made); adv, proceeds (S, K), $. OUT lp_dist, gp_carry (S, N), $.
    """
    cdef Py_ssize_t S = calls.shape[0], N = calls.shape[1], K = orig.shape[1], s, m, k
    cdef f8 loss, ent, paid, fcum, called, total_d, c, pi, pref, a, x, e, D, gp, over
    cdef f8 npv, disc
    cdef i4[:, ::1] order = np.empty((S, K), dtype=np.intc)
    cdef i4[:, ::1] start = np.empty((S, N + 1), dtype=np.intc)
    cdef Py_ssize_t i
    with nogil:
        for s in range(S):
            # counting sort of deals by receipt month
            start[s, :] = 0
            for k in range(K):
                if orig[s, k] >= 0:
                    start[s, receipt[s, k] + 1] += 1
            for m in range(N):
                start[s, m + 1] += start[s, m]
            for k in range(K):
                if orig[s, k] >= 0:
                    order[s, start[s, receipt[s, k]]] = <i4>k
                    start[s, receipt[s, k]] += 1
            # start[m] now marks the end of month m's deals; month m begins at start[m-1]
            loss = 0.0
            ent = 0.0
            paid = 0.0
            fcum = 0.0
            called = 0.0
            total_d = 0.0
            npv = 0.0
            disc = 1.0
            i = 0
            for m in range(N):
                fcum = fcum + fees[s, m]
                called = called + lp_share * calls[s, m]
                npv = npv + (lp_share * dist[s, m] - lp_share * calls[s, m]) * disc
                disc = disc / growth_m
                while i < start[s, m]:
                    k = order[s, i]
                    i = i + 1
                    c = lp_share * adv[s, k]
                    pi = lp_share * proceeds[s, k] - c
                    if pi <= 0.0:
                        loss = loss - pi
                        continue
                    pref = c * (pow(growth_m, receipt[s, k] - orig[s, k]) - 1.0)
                    x = fmin(pi, loss)
                    loss = loss - x
                    a = pi - x
                    x = fmin(a, pref)
                    a = a - x
                    e = 0.0
                    if a > 0.0 and catch_up > carry:
                        x = fmin(a, carry * x / (catch_up - carry))
                        e = e + catch_up * x
                        a = a - x
                    ent = ent + e + carry * a
                D = lp_share * dist[s, m]
                total_d = total_d + D
                gp = 0.0
                if D > 0.0:
                    gp = fmin(fmax(fmax(ent - offset * fcum, 0.0) - paid, 0.0), D)
                    paid = paid + gp
                lp_dist[s, m] = D - gp
                gp_carry[s, m] = gp
            over = paid - carry_cap(npv, called, carry * (total_d - called), offset * fcum)
            excess[s] = 0.0
            if over > 0.0:
                if clawback:
                    gp_carry[s, N - 1] = gp_carry[s, N - 1] - over
                    lp_dist[s, N - 1] = lp_dist[s, N - 1] + over
                else:
                    excess[s] = over


# --------------------------------------------------------------------------- IRR

# The solver's constants, named once; reference.IRR_CONSTANTS must hold the same values
# (tested). Rates are per period; the scan range is given per year and turned into per
# period by the caller's periods_per_year (12 for the engine's monthly flows).
cdef int IRR_GRID = 64                  # grid intervals scanned when the IRR may not be unique
cdef int IRR_MAX_ITER = 200             # Newton/bisection steps inside one bracket
cdef int IRR_MAX_DOUBLINGS = 2000       # bracket growth steps (x doubles each) for one root
cdef double IRR_STEP_TOL = 1e-14        # converged when a Newton step moves x this much (rel.)
cdef double IRR_BRACKET_TOL = 1e-15     # or when the bracket is this narrow (rel. to x)
cdef double IRR_START_LO = 1.0 / 1.005  # Newton starts at x = 1 / (1 + rate), rate +0.5 %
cdef double IRR_START_HI = 1.0 / 0.995  # or -0.5 % a period
cdef double IRR_SCAN_MAX_GROWTH = 11.0  # scan from +1000 % a year (growth factor 11) ...
cdef double IRR_SCAN_MIN_GROWTH = 0.001  # ... down to -99.9 % a year (growth factor 0.001)
IRR_CONSTANTS = {
    "grid": IRR_GRID, "max_iter": IRR_MAX_ITER, "max_doublings": IRR_MAX_DOUBLINGS,
    "step_tol": IRR_STEP_TOL, "bracket_tol": IRR_BRACKET_TOL, "start_lo": IRR_START_LO,
    "start_hi": IRR_START_HI, "scan_max_growth": IRR_SCAN_MAX_GROWTH,
    "scan_min_growth": IRR_SCAN_MIN_GROWTH,
}


cdef inline f8 npv_x(const f8* c, Py_ssize_t n, f8 x, f8* deriv) noexcept nogil:
    """sum c[t] x^t by Horner, with its derivative in x; x = 1 / (1 + rate)."""
    cdef f8 v = 0.0, d = 0.0
    cdef Py_ssize_t t = n - 1
    while t >= 0:
        d = d * x + v
        v = v * x + c[t]
        t -= 1
    deriv[0] = d
    return v


cdef f8 solve_bracket(const f8* c, Py_ssize_t n, f8 a, f8 b, f8 fa) noexcept nogil:
    """Root in x of the NPV polynomial inside [a, b] where the sign changes.

    Newton steps from a rate of +-0.5 % a period when that lies in the bracket (where
    fund IRRs on monthly flows live), else from the middle; bisection whenever a step
    leaves the bracket.
    """
    cdef f8 x = 0.5 * (a + b), fx, d, nx
    if a < IRR_START_LO < b:
        x = IRR_START_LO
    elif a < IRR_START_HI < b:
        x = IRR_START_HI
    cdef int it
    for it in range(IRR_MAX_ITER):
        fx = npv_x(c, n, x, &d)
        if fx == 0.0:
            return x
        if (fx < 0.0) == (fa < 0.0):
            a = x
            fa = fx
        else:
            b = x
        nx = x - fx / d if d != 0.0 else 0.5 * (a + b)
        if fabs_(nx - x) <= IRR_STEP_TOL * fabs_(x):
            return nx  # Newton has converged
        if not (nx > a and nx < b):
            nx = 0.5 * (a + b)
        if b - a <= IRR_BRACKET_TOL * fabs_(x):
            return nx
        x = nx
    return x


cdef inline f8 fabs_(f8 v) noexcept nogil:
    return -v if v < 0.0 else v


cdef f8 irr_one(const f8* c, Py_ssize_t n, f8 periods_per_year, i1* flag) noexcept nogil:
    """Per-period IRR of flows c[0..n-1]; NaN with flag 2 when none exists.

    One sign change in the flows or in their running sum (Norstrom) means one root,
    bracketed on x in (0, inf). Otherwise the rate range -99.9 %..+1000 % a year
    (``periods_per_year`` periods a year) is scanned and the root closest to zero kept
    (flag 1 when several were found).
    """
    cdef Py_ssize_t t, sc = 0, scc = 0
    cdef int sg = 0, sgc = 0, st
    cdef f8 cum = 0.0, a, b, fa, fb, d, best = NAN, rate, x
    cdef int roots = 0, i
    for t in range(n):
        if c[t] != 0.0:
            st = 1 if c[t] > 0.0 else -1
            if sg != 0 and st != sg:
                sc += 1
            sg = st
        cum += c[t]
        if cum != 0.0:
            st = 1 if cum > 0.0 else -1
            if sgc != 0 and st != sgc:
                scc += 1
            sgc = st
    flag[0] = 0
    while n > 0 and c[0] == 0.0:  # leading zeros move no root with x > 0
        c += 1
        n -= 1
    if sc == 0:
        flag[0] = 2
        return NAN
    if sc == 1 or scc == 1:
        # one root in x > 0: f(0) = c[0]-side sign; grow b until the sign flips
        a = 0.0
        fa = c[0]
        b = 1.0
        fb = npv_x(c, n, b, &d)
        i = 0
        while (fb < 0.0) == (fa < 0.0) and fb != 0.0 and i < IRR_MAX_DOUBLINGS:
            a = b
            fa = fb
            b = b * 2.0
            fb = npv_x(c, n, b, &d)
            i += 1
        if fb == 0.0:
            return 1.0 / b - 1.0
        if (fb < 0.0) == (fa < 0.0):
            flag[0] = 2
            return NAN
        x = solve_bracket(c, n, a, b, fa)
        return 1.0 / x - 1.0
    # several sign changes: scan the plausible range of rates
    a = 1.0 / (1.0 + pow(IRR_SCAN_MAX_GROWTH, 1.0 / periods_per_year) - 1.0)
    fa = npv_x(c, n, a, &d)
    for i in range(1, IRR_GRID + 1):
        b = (1.0 / pow(IRR_SCAN_MIN_GROWTH, 1.0 / periods_per_year) * i / IRR_GRID
             + a * (IRR_GRID - i) / IRR_GRID)
        fb = npv_x(c, n, b, &d)
        if fb == 0.0 or (fb < 0.0) != (fa < 0.0):
            x = b if fb == 0.0 else solve_bracket(c, n, a, b, fa)
            rate = 1.0 / x - 1.0
            roots += 1
            if roots == 1 or fabs_(rate) < fabs_(best):
                best = rate
        a = b
        fa = fb
    if roots == 0:
        flag[0] = 2
    elif roots > 1:
        flag[0] = 1
    return best


def irr_batch(const f8[:, ::1] flows, f8 periods_per_year, f8[::1] rate, i1[::1] flag):
    """Per-period IRR of each row of ``flows`` (S, N); NaN where none exists.

    IN flows (S, N): one cash flow per period, investor's sign; periods_per_year: 12 for
    monthly flows (sets the scan range when several roots are possible).
    OUT rate (S,): the IRR per period; flag (S,): 0 unique root, 1 several roots (the one
    closest to zero is returned), 2 no root (rate NaN).
    """
    cdef Py_ssize_t S = flows.shape[0], N = flows.shape[1], s
    if rate.shape[0] != S or flag.shape[0] != S:
        raise ValueError(f"irr_batch: rate and flag need {S} rows")
    with nogil:
        for s in range(S):
            rate[s] = irr_one(&flows[s, 0], N, periods_per_year, &flag[s])
