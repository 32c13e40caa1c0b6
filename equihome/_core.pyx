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

ctypedef double f8
ctypedef int i4
ctypedef signed char i1


cdef inline f8 fmin(f8 a, f8 b) noexcept nogil:
    """Smaller of two finite numbers (inlined; libm's fmin is a call)."""
    return a if a < b else b


cdef inline f8 fmax(f8 a, f8 b) noexcept nogil:
    """Larger of two finite numbers (inlined; libm's fmax is a call)."""
    return a if a > b else b

# Ledger columns: the order is part of the kernel contract (see equihome/layout.py).
LEDGER_COLUMNS = (
    "calls", "distributions", "nav", "advances", "proceeds", "management_fees",
    "expenses", "transaction_fees", "fee_income", "debt_draws", "debt_service",
    "unpaid_fees", "invested_capital", "cash", "fees_paid", "debt_interest",
)
cdef enum:
    C_CALLS = 0
    C_DIST = 1
    C_NAV = 2
    C_ADV = 3
    C_PROC = 4
    C_MFEE = 5
    C_EXP = 6
    C_TXN = 7
    C_FEEINC = 8
    C_DDRAW = 9
    C_DSERV = 10
    C_UNPAID = 11
    C_COST = 12
    C_CASH = 13
    C_FPAID = 14
    C_DINT = 15
    N_COLS = 16

# Exit kinds (equihome/layout.py names them).
cdef enum:
    EXIT_NONE = 0
    EXIT_SALE = 1
    EXIT_REFI = 2
    EXIT_DEFAULT = 3
    EXIT_MATURITY = 4
    EXIT_LIQUIDATION = 5

cdef double DT = 1.0 / 12.0  # one month, in years

# --------------------------------------------------------------------------- price paths


def price_paths(const f8[:, :, ::1] eps, const f8[:, ::1] u_regime, const f8[::1] mu,
                const f8[::1] sigma, int model, f8 kappa, const f8[::1] regime,
                f8[:, :, ::1] out):
    """Zone log-price indices ``out[s, m, z]`` (0 at month 0) from correlated shocks.

    eps: (S, M, Z) correlated standard normals; u_regime: (S, M+1) uniforms;
    mu, sigma: annual drift and volatility per zone; model 0 gbm, 1 mean_reversion,
    2 regime_switching; kappa: OU speed per year; regime: [bull_offset, bear_offset,
    p_bull_to_bear_m, p_bear_to_bull_m, bear_vol_multiplier, stationary_bear_prob].
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
    sub_eps: (S, M, J) standard normals; sigma_sub: annual volatility of the walk.
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
    """
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], Z = alloc.shape[0]
    cdef Py_ssize_t s, k, z
    cdef i4 best, sub
    cdef f8 total, L, d, best_d
    cdef f8 dep[8]
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

cdef struct LedgerParams:
    # Fund
    int months                  # M, the last month (fund_term * 12)
    double fund_size            # commitments, $
    double origination_cap      # calls allowed to fund originations, $
    int deploy_end              # initial schedule is available while m < deploy_end
    int reinvest_end            # principal received while m < reinvest_end is recycled
    double reinvest_rate        # share of returned principal recycled
    int fee_basis               # 0 committed, 1 invested capital, 2 NAV (previous month end)
    double fee_in_rate          # origination fee kept by the fund, share of the advance
    double acquisition_rate     # paid by the fund, share of home value at origination
    double disposition_rate     # paid by the fund, share of exit proceeds
    double min_loan_size        # a budget below this cannot fund a loan
    # Loans
    double loan_rate            # simple interest per year
    int loan_term_months
    int share_method            # 0 pro_rata_ltv, 1 fixed, 2 tiered
    double fixed_share
    int share_depreciation
    int has_cap
    int n_tiers                 # number of tier thresholds (shares has n_tiers + 1)
    # Exits
    int min_hold_months
    double sale_hazard          # annual, at zero gain
    double refi_hazard          # annual, at the threshold LTV
    double sale_mult
    double refi_mult
    double refi_threshold
    double default_mult
    double foreclosure_cost
    int foreclosure_lag
    double liquidation_discount
    double home_sigma           # annual volatility of the per-home random walk


cdef struct Tables:
    const f8* tier_thr
    const f8* tier_share
    const f8* cap_factor        # (M+1,) growth of the advance at the return cap, by age
    const f8* default_rate      # per zone, annual hazard at zero gain
    const f8* recovery          # per zone
    const f8* rate_cum          # (M+2,) sum of the management-fee rates of months < m
    const f8* expense_cum       # (M+2,) sum of the expenses ($) of months < m
    const i4* next_dist         # (M+1,) the first distribution month after m (M at M)


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


cdef void walk_loan(const LedgerParams* p, const Tables* t, const f8* lev, Py_ssize_t J,
                    Py_ssize_t j, int m0, f8 L, f8 ltv, int z, f8 e, f8 u, f8 z1, f8 z2,
                    f8* nav_loans, f8* cost_at, LoanExit* out) noexcept nogil:
    """Follow one loan from month m0 to its exit; add its fair value to NAV while alive.

    The exit is an exponential race: the loan leaves in the first month whose
    cumulative annual hazard, summed monthly, reaches 12 x its Exp(1) draw ``e`` (the
    same law as a monthly exit probability 1 - exp(-h/12)); ``u`` picks the cause in
    proportion to the hazards. z1, z2: normals of the home's own walk to exit and over
    the foreclosure delay.
    """
    cdef f8 V0 = L / ltv
    cdef f8 inv0 = 1.0 / lev[m0 * J + j]
    cdef f8 share = ltv if p.share_method == 0 else (
        t.tier_share[0] if p.share_method == 2 else p.fixed_share)
    cdef f8 accrual = L * p.loan_rate * DT, share_v0 = share * V0
    cdef f8 hd0 = t.default_rate[z], hdc = t.default_rate[z] * p.default_mult
    cdef f8 hsa = p.sale_hazard * p.sale_mult, hrb = p.refi_hazard * p.refi_mult
    cdef f8 target = 12.0 * e
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
            x = u * ht
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
    hh = exp(p.home_sigma * sqrt(tau / 12.0) * z1 - 0.5 * s2 * tau / 12.0)
    claim = claim_value(p, t, L, accrual, V0, share_v0, lev[m * J + j] * inv0 * hh, tau)
    r = m
    if kind == EXIT_DEFAULT:
        r = m + p.foreclosure_lag
        if r > M:
            r = M
        hh2 = hh * exp(p.home_sigma * sqrt((r - m) / 12.0) * z2 - 0.5 * s2 * (r - m) / 12.0)
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


cdef inline f8 owed_between(const LedgerParams* p, const Tables* t, f8 basis, int m,
                            int h) noexcept nogil:
    """Management fees (on ``basis``, $) and expenses ($) falling due in months m+1..h."""
    return (basis * (t.rate_cum[h + 1] - t.rate_cum[m + 1]) / 12.0
            + (t.expense_cum[h + 1] - t.expense_cum[m + 1]))


cdef struct Cash:
    f8 cash                     # $ on hand
    f8 called                   # equity called so far
    int m


cdef f8 fund_need(Cash* c, f8 amount, f8 cap, const f8* tr_size, f8* debt_out, Py_ssize_t NT,
                  f8* row, Py_ssize_t N, f8* debt_row) noexcept nogil:
    """Pay ``amount`` from cash, then debt (priority order), then equity calls up to ``cap``.

    Returns what could not be paid (0 when fully funded).
    """
    cdef f8 use = fmin(c.cash, amount), d
    cdef Py_ssize_t t
    c.cash -= use
    amount -= use
    for t in range(NT):
        if amount <= 0.0:
            break
        d = fmin(amount, tr_size[t] - debt_out[t])
        if d > 0.0:
            debt_out[t] += d
            row[C_DDRAW * N + c.m] += d
            debt_row[t * N + c.m] -= d
            amount -= d
    if amount > 0.0:
        d = fmin(amount, fmax(cap - c.called, 0.0))
        c.called += d
        row[C_CALLS * N + c.m] += d
        amount -= d
    return fmax(amount, 0.0)


def calendar(const f8[::1] fee_rate, const f8[::1] expense, const unsigned char[::1] dist_mask,
             f8[::1] rate_cum, f8[::1] expense_cum, i4[::1] next_dist):
    """OUT: running sums of fee_rate and expense (month < m) and the next distribution month.

    rate_cum, expense_cum: (M+2,); next_dist: (M+1,), the first month q > m paying out
    (dist_mask or q = M), M at M itself. Used to size the hold-back before a distribution.
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


def run_ledger(LedgerParams p,
               const f8[:, ::1] size, const f8[:, ::1] ltv, const i4[:, ::1] zone,
               const i4[:, ::1] suburb, const f8[:, ::1] e_exit, const f8[:, ::1] u_cause,
               const f8[:, :, ::1] z_home, const f8[:, :, ::1] levels,
               const f8[::1] schedule, const f8[::1] fee_rate, const f8[::1] expense,
               const unsigned char[::1] dist_mask, const f8[::1] default_rate,
               const f8[::1] recovery, const f8[::1] tier_thr, const f8[::1] tier_share,
               const f8[::1] cap_factor, const f8[::1] tranche_size, const f8[::1] tranche_rate_m,
               f8[:, :, ::1] ledger, f8[:, :, ::1] debt_flows,
               i4[:, ::1] orig_month, i4[:, ::1] exit_month, i4[:, ::1] receipt_month,
               i1[:, ::1] exit_type, i1[:, ::1] reinvested, f8[:, ::1] proceeds,
               i1[::1] pool_exhausted):
    """Run each scenario's fund month by month: originate, exit, pay, call, distribute.

    Money owed never vanishes: a charge that cannot be paid (commitments exhausted) is an
    arrear, paid first from the next cash in; before each distribution the fund holds back
    the fees and expenses due until the next distribution, or, if more, what the live book
    at fair value cannot cover of those due until fund end, less what uncalled commitments
    can pay; what is still owed at fund end stays in the unpaid_fees column and reduces NAV.

    Pool arrays are (S, K) in origination order; levels (S, M+1, J); monthly inputs
    (M+1,): schedule ($ of initial origination made available), fee_rate (annual
    management fee rate), expense ($, setup included), dist_mask (1 = distribution
    month). Outputs: ledger (S, N_COLS, M+1) by LEDGER_COLUMNS; debt_flows (S, NT, M+1)
    from each lender's side (draws negative); per-loan months, exit kind, reinvested
    flag and proceeds ($, at the receipt month; -1 months for loans never made);
    pool_exhausted[s] = 1 if the pool ran out while budget remained.
    """
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], J = levels.shape[2]
    cdef Py_ssize_t N = p.months + 1, NT = tranche_size.shape[0], s
    cdef f8[:, ::1] scratch = np.zeros((S, 5 * N + NT + 1))
    cdef f8[::1] rate_cum = np.zeros(N + 1)
    cdef f8[::1] expense_cum = np.zeros(N + 1)
    cdef i4[::1] next_dist = np.empty(N, dtype=np.intc)
    calendar(fee_rate, expense, dist_mask, rate_cum, expense_cum, next_dist)
    cdef Tables t
    t.tier_thr = &tier_thr[0]
    t.tier_share = &tier_share[0]
    t.cap_factor = &cap_factor[0]
    t.default_rate = &default_rate[0]
    t.recovery = &recovery[0]
    t.rate_cum = &rate_cum[0]
    t.expense_cum = &expense_cum[0]
    t.next_dist = &next_dist[0]
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
            pool_exhausted[s] = _ledger_one(
                &p, &t, &size[s, 0], &ltv[s, 0], &zone[s, 0], &suburb[s, 0], &e_exit[s, 0],
                &u_cause[s, 0], &z_home[s, 0, 0], &levels[s, 0, 0], J, K,
                &schedule[0], &fee_rate[0], &expense[0], &dist_mask[0],
                &tranche_size[0] if NT else NULL, &tranche_rate_m[0] if NT else NULL, NT,
                &ledger[s, 0, 0], &debt_flows[s, 0, 0] if NT else NULL,
                &orig_month[s, 0], &exit_month[s, 0], &receipt_month[s, 0], &exit_type[s, 0],
                &reinvested[s, 0], &proceeds[s, 0], &scratch[s, 0])


cdef i1 _ledger_one(const LedgerParams* p, const Tables* t, const f8* size, const f8* ltv,
                    const i4* zone, const i4* suburb, const f8* e_exit, const f8* u_cause,
                    const f8* z_home, const f8* lev, Py_ssize_t J, Py_ssize_t K,
                    const f8* schedule, const f8* fee_rate, const f8* expense,
                    const unsigned char* dist_mask, const f8* tr_size, const f8* tr_rate,
                    Py_ssize_t NT, f8* row, f8* debt_row, i4* orig, i4* exm, i4* rcm, i1* kind,
                    i1* reinv, f8* proc, f8* scratch) noexcept nogil:
    """One scenario of run_ledger; returns 1 if the loan pool ran out."""
    cdef int M = p.months
    cdef Py_ssize_t N = M + 1, k = 0, tt
    cdef f8* proc_at = scratch
    cdef f8* prin_at = scratch + N
    cdef f8* nav_loans = scratch + 2 * N
    cdef f8* cost_at = scratch + 3 * N
    cdef f8* disp_at = scratch + 4 * N
    cdef f8* debt_out = scratch + 5 * N
    cdef Cash c
    cdef LoanExit ex
    cdef f8 earmark = 0.0, sched = 0.0, arrears = 0.0, nav_prev = 0.0, cost_prev = 0.0
    cdef f8 basis = 0.0, mfee, interest, need, L, V0, net, avail, use_e, free, x, debt_total
    cdef f8 hold, owed
    cdef int m, h
    cdef i1 exhausted = 0
    c.cash = 0.0
    c.called = 0.0
    for m in range(M + 1):
        c.m = m
        # 1. receipts; recycled principal becomes origination budget
        c.cash += proc_at[m]
        row[C_PROC * N + m] = proc_at[m]
        if m < p.reinvest_end:
            earmark += p.reinvest_rate * prin_at[m]
        else:
            earmark = 0.0
        # 2. fees, expenses, debt interest (and last month's arrears)
        mfee = 0.0
        if m < M:
            if p.fee_basis == 0:
                basis = p.fund_size
            elif p.fee_basis == 1:
                basis = cost_prev
            else:
                basis = fmax(nav_prev, 0.0)
            mfee = fee_rate[m] / 12.0 * basis
        interest = 0.0
        for tt in range(NT):
            x = debt_out[tt] * tr_rate[tt]
            debt_row[tt * N + m] += x
            interest += x
        row[C_MFEE * N + m] = mfee
        row[C_EXP * N + m] = expense[m]
        row[C_TXN * N + m] += disp_at[m]
        row[C_DSERV * N + m] += interest
        row[C_DINT * N + m] = interest
        need = arrears + mfee + expense[m] + disp_at[m] + interest
        arrears = fund_need(&c, need, p.fund_size, tr_size, debt_out, NT, row, N, debt_row)
        row[C_FPAID * N + m] += need - arrears
        # 3. originations: the schedule and recycled principal set the budget
        if m < M:
            if m < p.deploy_end:
                sched += schedule[m]
            else:
                sched = 0.0
            while True:
                if k == K:
                    if sched + earmark >= p.min_loan_size:
                        exhausted = 1
                    break
                L = size[k]
                if L > sched + earmark:
                    break
                V0 = L / ltv[k]
                net = L * (1.0 - p.fee_in_rate) + p.acquisition_rate * V0
                avail = c.cash + fmax(p.origination_cap - c.called, 0.0)
                for tt in range(NT):
                    avail += tr_size[tt] - debt_out[tt]
                if net > avail:
                    break  # capital exhausted: origination stops first
                fund_need(&c, net, p.origination_cap, tr_size, debt_out, NT, row, N, debt_row)
                use_e = fmin(earmark, L)
                earmark -= use_e
                sched -= L - use_e
                reinv[k] = 1 if use_e >= 0.5 * L else 0
                row[C_ADV * N + m] += L
                row[C_FEEINC * N + m] += L * p.fee_in_rate
                row[C_TXN * N + m] += p.acquisition_rate * V0
                row[C_FPAID * N + m] += p.acquisition_rate * V0
                walk_loan(p, t, lev, J, suburb[k], m, L, ltv[k], zone[k], e_exit[k], u_cause[k],
                          z_home[2 * k], z_home[2 * k + 1], nav_loans, cost_at, &ex)
                orig[k] = m
                exm[k] = ex.month
                rcm[k] = ex.receipt
                kind[k] = <i1>ex.kind
                proc[k] = ex.proceeds
                proc_at[ex.receipt] += ex.proceeds
                prin_at[ex.receipt] += fmin(L, ex.proceeds)
                disp_at[ex.receipt] += p.disposition_rate * ex.proceeds
                k += 1
        # 4. distributions: hold back what falls due, repay debt in priority order, pay out
        if dist_mask[m] or m == M:
            hold = 0.0
            if m == M:
                earmark = 0.0
            else:
                # the fees and expenses due until the next distribution, or what the live
                # book at fair value cannot cover of those due until fund end if more, less
                # what uncalled commitments can still pay; rounded up to the cent
                h = t.next_dist[m]
                owed = fmax(owed_between(p, t, basis, m, h),
                            owed_between(p, t, basis, m, M) - nav_loans[m])
                hold = ceil(100.0 * fmax(owed - fmax(p.fund_size - c.called, 0.0), 0.0)) / 100.0
            free = c.cash - earmark - hold
            for tt in range(NT):
                if free <= 0.0:
                    break
                x = fmin(free, debt_out[tt])
                debt_out[tt] -= x
                debt_row[tt * N + m] += x
                row[C_DSERV * N + m] += x
                c.cash -= x
                free -= x
            if free > 0.0:
                row[C_DIST * N + m] = free
                c.cash -= free
        debt_total = 0.0
        for tt in range(NT):
            debt_total += debt_out[tt]
        row[C_NAV * N + m] = c.cash + nav_loans[m] - debt_total - arrears
        row[C_COST * N + m] = cost_at[m]
        row[C_UNPAID * N + m] = arrears
        row[C_CASH * N + m] = c.cash
        nav_prev = row[C_NAV * N + m]
        cost_prev = cost_at[m]
    return exhausted


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

cdef enum:
    IRR_GRID = 64  # grid intervals scanned when the IRR may not be unique
cdef double IRR_START_LO = 1.0 / 1.005  # x = 1 / (1 + rate) at +0.5 % a period
cdef double IRR_START_HI = 1.0 / 0.995  # and at -0.5 %


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
    for it in range(200):
        fx = npv_x(c, n, x, &d)
        if fx == 0.0:
            return x
        if (fx < 0.0) == (fa < 0.0):
            a = x
            fa = fx
        else:
            b = x
        nx = x - fx / d if d != 0.0 else 0.5 * (a + b)
        if fabs_(nx - x) <= 1e-14 * fabs_(x):
            return nx  # Newton has converged
        if not (nx > a and nx < b):
            nx = 0.5 * (a + b)
        if b - a <= 1e-15 * fabs_(x):
            return nx
        x = nx
    return x


cdef inline f8 fabs_(f8 v) noexcept nogil:
    return -v if v < 0.0 else v


cdef f8 irr_one(const f8* c, Py_ssize_t n, i1* flag) noexcept nogil:
    """Per-period IRR of flows c[0..n-1]; NaN with flag 2 when none exists.

    One sign change in the flows or in their running sum (Norstrom) means one root,
    bracketed on x in (0, inf). Otherwise the rate range -99.9 %..+1000 % a year
    (for monthly flows) is scanned and the root closest to zero kept (flag 1 when
    several were found).
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
        while (fb < 0.0) == (fa < 0.0) and fb != 0.0 and i < 2000:
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
    a = 1.0 / (1.0 + pow(11.0, 1.0 / 12.0) - 1.0)
    fa = npv_x(c, n, a, &d)
    for i in range(1, IRR_GRID + 1):
        b = 1.0 / pow(0.001, 1.0 / 12.0) * i / IRR_GRID + a * (IRR_GRID - i) / IRR_GRID
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


def irr_batch(const f8[:, ::1] flows, f8[::1] rate, i1[::1] flag):
    """Per-period IRR of each row of ``flows`` (S, N); NaN where none exists.

    flag: 0 unique root, 1 several roots (the one closest to zero is returned),
    2 no root (rate NaN).
    """
    cdef Py_ssize_t S = flows.shape[0], N = flows.shape[1], s
    with nogil:
        for s in range(S):
            rate[s] = irr_one(&flows[s, 0], N, &flag[s])
