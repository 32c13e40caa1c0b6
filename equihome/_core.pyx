"""Cython kernels for the hot loops of the engine.

Each public function here has a twin with the same name and signature in
``equihome/model/reference.py`` (plain numpy); the tests hold the two against each other.
Conventions shared by both:

* months are integer offsets from the fund's month 0; ``M`` is the last month;
* money is in dollars, rates are per year unless the name says ``_m`` (per month);
* outputs are preallocated by the caller and fully overwritten here;
* every loop runs without the GIL, so two threads use two cores.

Compiler directives (boundscheck, wraparound, cdivision, ...) are set once in setup.py.
"""

import numpy as np

from libc.math cimport ceil, exp, sqrt, pow, isnan, INFINITY, NAN
from libc.stdint cimport UINT64_MAX, int64_t
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport random_standard_exponential, random_standard_normal

cdef inline f8 fmin(f8 a, f8 b) noexcept nogil:
    """Smaller of two finite numbers (inlined; libm's fmin is a call)."""
    return a if a < b else b


cdef inline f8 fmax(f8 a, f8 b) noexcept nogil:
    """Larger of two finite numbers (inlined; libm's fmax is a call)."""
    return a if a > b else b

cdef extern from *:
    """
    #ifndef EQUIHOME_SIMD
    #define EQUIHOME_SIMD "baseline"
    #endif
    """
    const char* EQUIHOME_SIMD

SIMD = EQUIHOME_SIMD.decode()  # what setup.py built the core for: "avx512", "avx2" or "baseline"

# The ledger's rows and the exit kinds come from one source, equihome/model/layout.py.
from equihome.model.layout import COL as _COL, ExitKind as _ExitKind, check_ledger_shapes
from equihome.model.layout import LEV as _LEV

cdef Py_ssize_t C_CALLS = _COL["calls"], C_DIST = _COL["distributions"], C_NAV = _COL["nav"]
cdef Py_ssize_t C_ADV = _COL["advances"], C_PROC = _COL["proceeds"]
cdef Py_ssize_t C_MFEE = _COL["management_fees"], C_EXP = _COL["expenses"]
cdef Py_ssize_t C_TXN = _COL["transaction_fees"], C_FEEINC = _COL["fee_income"]
cdef Py_ssize_t C_DDRAW = _COL["debt_draws"], C_DSERV = _COL["debt_service"]
cdef Py_ssize_t C_UNPAID = _COL["unpaid_fees"], C_COST = _COL["invested_capital"]
cdef Py_ssize_t C_CASH = _COL["cash"], C_FPAID = _COL["fees_paid"]
cdef Py_ssize_t C_DINT = _COL["debt_interest"]
cdef Py_ssize_t L_NAV_DRAWS = _LEV["nav_draws"], L_NAV_REPAID = _LEV["nav_repaid"]
cdef Py_ssize_t L_NAV_INT = _LEV["nav_interest"], L_NAV_FEES = _LEV["nav_fees"]
cdef Py_ssize_t L_NAV_BAL = _LEV["nav_balance"], L_NAV_CAP = _LEV["nav_capitalised"]
cdef Py_ssize_t L_SUB_DRAWS = _LEV["sub_draws"], L_SUB_REPAID = _LEV["sub_repaid"]
cdef Py_ssize_t L_SUB_INT = _LEV["sub_interest"], L_SUB_FEES = _LEV["sub_fees"]
cdef Py_ssize_t L_SUB_BAL = _LEV["sub_balance"], L_BREACH = _LEV["covenant_breach"]
cdef Py_ssize_t L_LOSS = _LEV["lender_loss"]
cdef int EXIT_NONE = _ExitKind.NONE, EXIT_SALE = _ExitKind.SALE, EXIT_REFI = _ExitKind.REFI
cdef int EXIT_DEFAULT = _ExitKind.DEFAULT, EXIT_MATURITY = _ExitKind.MATURITY
cdef int EXIT_LIQUIDATION = _ExitKind.LIQUIDATION

cdef double DT = 1.0 / 12.0  # one month, in years

include "_exp.pxi"

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
                a = own_exp(-kappa * DT)
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


def correlate(const f8[:, :, ::1] eps, const f8[:, ::1] A, f8[:, :, ::1] out):
    """Correlated zone shocks ``out[s, m, z] = sum_k A[z, k] eps[s, m, k]``, summed in order
    k = 0, 1, ... (the same bits on every machine, unlike a BLAS product).

    IN eps: (S, M, Z) independent standard normals; A: (Z, Z) with A A^T the correlation
    matrix (price_path_simulator.correlation_factor). OUT out: (S, M, Z), not eps itself.
    """
    cdef Py_ssize_t S = eps.shape[0], M = eps.shape[1], Z = eps.shape[2], s, m, z, k
    cdef f8 acc
    if A.shape[0] != Z or A.shape[1] != Z:
        raise ValueError(f"correlate: A must be ({Z}, {Z}), got ({A.shape[0]}, {A.shape[1]})")
    with nogil:
        for s in range(S):
            for m in range(M):
                for z in range(Z):
                    acc = eps[s, m, 0] * A[z, 0]
                    for k in range(1, Z):
                        acc = acc + eps[s, m, k] * A[z, k]
                    out[s, m, z] = acc


def index_levels(const f8[:, :, ::1] zone_log, const f8[:, :, ::1] sub_eps,
                 const i4[::1] zone_of, f8 sigma_sub, const f8[:, ::1] shock,
                 f8[:, :, ::1] out):
    """Suburb price levels ``out[s, m, j] = exp(zone_log[s, m, z] + W_j(m)) * shock[m, z]``,
    z = zone_of[j], exp the engine's own (fixed_exp).

    W_j is the suburb's cumulative random walk with the Ito term, so E[exp(W_j)] = 1.
    IN zone_log: (S, M+1, Z) from price_paths; sub_eps: (S, M, J) standard normals;
    zone_of: (J,) zone of each suburb; sigma_sub: annual volatility of the walk; shock:
    (M+1, Z) the deterministic price-shock overlay S(m) (ones: no shock, the same bits).
    OUT out: (S, M+1, J) price levels (1 at month 0 for a flat zone).
    """
    cdef Py_ssize_t S = sub_eps.shape[0], M = sub_eps.shape[1], J = sub_eps.shape[2]
    cdef Py_ssize_t s, m, j
    cdef f8 step = -0.5 * sigma_sub * sigma_sub * DT, vol = sigma_sub * sqrt(DT)
    cdef f8[::1] walk = np.empty(J)             # W_j(m) of each suburb, month by month
    cdef f8[::1] x = np.empty((M + 1) * J)      # a scenario's exponents, (M+1, J)
    cdef bint flat = bool(np.all(np.asarray(shock) == 1.0))  # x 1.0 changes no bit: skipped
    if shock.shape[0] != M + 1 or shock.shape[1] != zone_log.shape[2]:
        raise ValueError(f"index_levels: shock must be ({M + 1}, {zone_log.shape[2]}), "
                         f"got ({shock.shape[0]}, {shock.shape[1]})")
    if J == 0:
        return
    with nogil:
        for s in range(S):
            for j in range(J):
                walk[j] = 0.0
                x[j] = zone_log[s, 0, zone_of[j]]
            for m in range(M):
                for j in range(J):
                    walk[j] = walk[j] + (step + vol * sub_eps[s, m, j])
                    x[(m + 1) * J + j] = zone_log[s, m + 1, zone_of[j]] + walk[j]
            exp_n(&x[0], &out[s, 0, 0], (M + 1) * J)
            if not flat:
                for m in range(M + 1):
                    for j in range(J):
                        out[s, m, j] = out[s, m, j] * shock[m, zone_of[j]]


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
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], Z = alloc.shape[0], s
    if Z > 8:
        raise ValueError(f"assign_zones: at most 8 zones fit its table, got {Z}")
    if K == 0:
        return
    with nogil:
        for s in range(S):
            assign_row(&size[s, 0], &u_suburb[s, 0], &alloc[0], Z, n_sub, K, &zone[s, 0],
                       &suburb[s, 0])


cdef void assign_row(const f8* size, const f8* u_suburb, const f8* alloc, Py_ssize_t Z,
                     int n_sub, Py_ssize_t K, i4* zone, i4* suburb) noexcept nogil:
    """assign_zones for one scenario's pool (K loans; Z <= 8 zones); assign_row3 when the three
    zones all have an allocation (the common case)."""
    cdef Py_ssize_t k, z
    cdef i4 best
    cdef f8 total = 0.0, L, d, best_d
    cdef f8 dep[8]
    if Z == 3 and alloc[0] > 0.0 and alloc[1] > 0.0 and alloc[2] > 0.0:
        assign_row3(size, u_suburb, alloc, n_sub, K, zone, suburb)
        return
    for z in range(Z):
        dep[z] = 0.0
    for k in range(K):
        L = size[k]
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
        zone[k] = best
        suburb[k] = best * n_sub + suburb_of(u_suburb[k], n_sub)


cdef inline i4 suburb_of(f8 u, int n_sub) noexcept nogil:
    """The suburb within its zone of a loan with suburb uniform u: floor(u n_sub), at most n_sub - 1."""
    cdef i4 sub = <i4>(u * n_sub)
    return n_sub - 1 if sub > n_sub - 1 else sub


cdef void assign_row3(const f8* size, const f8* u_suburb, const f8* alloc, int n_sub,
                      Py_ssize_t K, i4* zone, i4* suburb) noexcept nogil:
    """assign_row for three zones that all have an allocation, the same choices and sums: the
    deployed capital is held in three locals, each adding L or 0.0 (x + 0.0 is x for x >= 0),
    and the winner is a select, so no store or mispredicted branch sits between loans."""
    cdef Py_ssize_t k
    cdef i4 best
    cdef f8 a0 = alloc[0], a1 = alloc[1], a2 = alloc[2], p0 = 0.0, p1 = 0.0, p2 = 0.0
    cdef f8 total = 0.0, L, d0, d1, d2, best_d
    for k in range(K):
        L = size[k]
        d0 = a0 * (total + L) - p0
        d1 = a1 * (total + L) - p1
        d2 = a2 * (total + L) - p2
        best = 1 if d1 > d0 else 0
        best_d = d1 if d1 > d0 else d0
        best = 2 if d2 > best_d else best
        p0 = p0 + (L if best == 0 else 0.0)
        p1 = p1 + (L if best == 1 else 0.0)
        p2 = p2 + (L if best == 2 else 0.0)
        total += L
        zone[k] = best
        suburb[k] = best * n_sub + suburb_of(u_suburb[k], n_sub)


def pool_metrics(const f8[:, ::1] size, const i4[:, ::1] orig, const i4[:, ::1] receipt,
                 const i1[:, ::1] exit_type, const i1[:, ::1] reinvested,
                 const f8[:, ::1] proceeds, f8[:, ::1] sums, int64_t[:, ::1] counts):
    """Per-scenario reductions over the pool's loans made (orig >= 0), added in pool order.

    IN size, proceeds: (S, K) $; orig, receipt: (S, K) int32 months (-1: never made);
    exit_type, reinvested: (S, K) int8. OUT sums (S, 5): deployed $ (advances), lost $
    (max(advance - proceeds, 0)), advance x life in $-years (life = (receipt - orig) / 12),
    loans made, reinvested loans made; counts (S, n_kinds) int64: loans of each exit kind
    (layout.ExitKind; NONE counts the loans never made too, kinds outside the table none).
    """
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], NK = counts.shape[1], s, k
    cdef f8 dep, lost, adv_life, made, reinv, L
    cdef int e
    if sums.shape[0] != S or sums.shape[1] != 5 or counts.shape[0] != S:
        raise ValueError(f"pool_metrics: sums must be ({S}, 5) and counts ({S}, n_kinds)")
    with nogil:
        for s in range(S):
            dep = 0.0
            lost = 0.0
            adv_life = 0.0
            made = 0.0
            reinv = 0.0
            for k in range(NK):
                counts[s, k] = 0
            for k in range(K):
                e = exit_type[s, k]
                if 0 <= e < NK:
                    counts[s, e] += 1
                if orig[s, k] < 0:
                    continue
                L = size[s, k]
                dep = dep + L
                lost = lost + fmax(L - proceeds[s, k], 0.0)
                adv_life = adv_life + L * ((receipt[s, k] - orig[s, k]) / 12.0)
                made += 1.0
                if reinvested[s, k] > 0:
                    reinv += 1.0
            sums[s, 0] = dep
            sums[s, 1] = lost
            sums[s, 2] = adv_life
            sums[s, 3] = made
            sums[s, 4] = reinv


def lp_metrics(const f8[:, :, ::1] ledger, const f8[:, ::1] lp_calls, const f8[:, ::1] lp_dist,
               const f8[:, ::1] gp_carry, f8 lp_share, f8 fund_size, f8[:, ::1] scalars,
               f8[:, ::1] cum_lp, f8[:, :, ::1] yearly):
    """Per-scenario LP metrics from the ledger and the waterfall, month by month; every sum
    is a running sum in month order (so a year-end value and the fund-end one agree).

    IN ledger: (S, C, N) by layout.LEDGER_COLUMNS; lp_calls, lp_dist, gp_carry: (S, N) $
    (the LP's capital called, its distributions, the GP's carry); lp_share: the LPs' share
    of commitments; fund_size: $. OUT scalars (S, 6): paid-in $, DPI, RVPI (= lp_share x
    final NAV / paid-in; DPI and RVPI NaN while nothing is paid in), payback month (the first
    month after which the LP's cumulative cash stays >= 0; NaN if it never does), NAV
    drawdown (the largest fall of NAV + distributions - calls below its running peak, a
    share of fund_size), GP carry $; cum_lp (S, N): the LP's cumulative net cash $;
    yearly (3, S, T+1) at months 0, 12, ...: cum_lp, DPI, RVPI.
    """
    cdef Py_ssize_t S = lp_calls.shape[0], N = lp_calls.shape[1], s, m, y
    cdef f8 cc, cd, cl, pc, peak, fall, carry, pnl
    cdef Py_ssize_t last_neg
    if (scalars.shape[0] != S or scalars.shape[1] != 6 or cum_lp.shape[0] != S
            or cum_lp.shape[1] != N or yearly.shape[0] != 3 or yearly.shape[1] != S
            or yearly.shape[2] != (N - 1) // 12 + 1 or ledger.shape[2] != N):
        raise ValueError(f"lp_metrics: scalars must be ({S}, 6), cum_lp ({S}, {N}), yearly "
                         f"(3, {S}, {(N - 1) // 12 + 1}) and the ledger's months {N}")
    with nogil:
        for s in range(S):
            cc = 0.0
            cd = 0.0
            cl = 0.0
            pc = 0.0
            peak = -INFINITY
            fall = 0.0
            carry = 0.0
            last_neg = -1
            for m in range(N):
                cc = cc + lp_calls[s, m]
                cd = cd + lp_dist[s, m]
                cl = cl + (lp_dist[s, m] - lp_calls[s, m])
                cum_lp[s, m] = cl
                if cl < 0.0:
                    last_neg = m
                pc = pc + (ledger[s, C_DIST, m] - ledger[s, C_CALLS, m])
                pnl = ledger[s, C_NAV, m] + pc
                peak = fmax(peak, pnl)
                fall = fmax(fall, peak - pnl)
                carry = carry + gp_carry[s, m]
                if m % 12 == 0:
                    y = m // 12
                    yearly[0, s, y] = cl
                    yearly[1, s, y] = cd / cc if cc > 0.0 else NAN
                    yearly[2, s, y] = lp_share * ledger[s, C_NAV, m] / cc if cc > 0.0 else NAN
            scalars[s, 0] = cc
            scalars[s, 1] = cd / cc if cc > 0.0 else NAN
            scalars[s, 2] = lp_share * ledger[s, C_NAV, N - 1] / cc if cc > 0.0 else NAN
            scalars[s, 3] = NAN if last_neg == N - 1 else <f8>(last_neg + 1)
            scalars[s, 4] = fall / fund_size
            scalars[s, 5] = carry


def loan_stats(const f8[:, ::1] size, const f8[:, ::1] ltv, const f8[:, ::1] stress,
               const f8[::1] senior, f8 cltv_div, const i4[:, ::1] zone, const i4[:, ::1] group,
               const i4[:, ::1] orig, const i1[:, ::1] exit_type, f8[:, ::1] peaks,
               f8[:, ::1] zone_max, f8[:, ::1] zone_sum, f8[:, ::1] group_sum):
    """Per-scenario facts of the loans made (orig >= 0) for the portfolio guardrails; a loan
    never made counts as 0 in every maximum and is left out of every sum.

    IN size (S, K) $; ltv, stress (S, K): LTV and claim/value after the stress fall; senior
    (K,): senior balance / value at origination; cltv_div: 1 - start_value_haircut (> 0); zone,
    group (S, K) int32 (group: the concentration group, < G); orig (S, K) int32 months;
    exit_type (S, K) int8. OUT peaks (S, 5): largest LTV, stress LTV, advance ($), combined
    LTV (senior + ltv) / cltv_div, and $ advanced on loans force-liquidated; zone_max,
    zone_sum (S, Z): largest advance and $ advanced by zone; group_sum (S, G): $ by group.
    Sums are added in pool order.
    """
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], Z = zone_max.shape[1]
    cdef Py_ssize_t G = group_sum.shape[1], s, k, z
    cdef f8 L, top_ltv, top_stress, top_size, top_cltv, liquidated
    cdef bint made
    if peaks.shape[0] != S or peaks.shape[1] != 5 or zone_sum.shape[1] != Z or senior.shape[0] != K:
        raise ValueError(f"loan_stats: peaks must be ({S}, 5), zone_max and zone_sum (S, Z) "
                         f"and senior ({K},)")
    if not cltv_div > 0.0:
        raise ValueError(f"loan_stats: cltv_div must be positive, got {cltv_div}")
    with nogil:
        for s in range(S):
            top_ltv = top_stress = top_size = top_cltv = -INFINITY
            liquidated = 0.0
            zone_max[s, :] = 0.0
            zone_sum[s, :] = 0.0
            group_sum[s, :] = 0.0
            for k in range(K):
                made = orig[s, k] >= 0
                L = size[s, k] if made else 0.0
                top_size = fmax(L, top_size)
                top_ltv = fmax(ltv[s, k] if made else 0.0, top_ltv)
                top_stress = fmax(stress[s, k] if made else 0.0, top_stress)
                top_cltv = fmax(senior[k] + ltv[s, k] if made else 0.0, top_cltv)
                if not made:
                    continue
                z = zone[s, k]
                zone_max[s, z] = fmax(L, zone_max[s, z])
                zone_sum[s, z] += L
                group_sum[s, group[s, k]] += L
                if exit_type[s, k] == EXIT_LIQUIDATION:
                    liquidated = liquidated + L
            peaks[s, 0] = top_ltv
            peaks[s, 1] = top_stress
            peaks[s, 2] = top_size
            peaks[s, 3] = top_cltv / cltv_div  # the largest quotient: division by c > 0 keeps order
            peaks[s, 4] = liquidated


include "_leverage.pxi"
include "_loans.pxi"
include "_ledger.pxi"
include "_waterfall.pxi"
include "_irr.pxi"
include "_random.pxi"
include "_draws.pxi"
