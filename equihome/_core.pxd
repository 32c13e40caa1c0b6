# The kernel contract of equihome/_core.pyx: its types and the structures the ledger kernel
# reads and writes, declared once. equihome/model/reference.py mirrors them field for field (its
# LedgerInputs/LedgerRun are the same names on the Python side, built by
# equihome/model/exit_simulator.py for production and tests alike).

from libc.stdint cimport uint32_t, uint64_t

ctypedef double f8
ctypedef int i4
ctypedef signed char i1


cdef struct LedgerParams:
    # IN, scalars of a run (exit_simulator.ledger_params builds them)
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
    double return_cap           # annual_return_cap, -1 if none
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
    int hazard_scaled           # 1 if a market stress scales the hazards (hazard_mult not all 1)
    # Contracts (DOMAIN.md "Contracts"; equihome/model/contracts.py builds them)
    int contract_type           # 0 interest_plus_share, 1 appreciation_share, 2 value_share
    double risk_adj             # appreciation measured from (1 - risk_adj) * V0
    double claim_floor          # the claim is never below floor * advance
    int buyout_months           # no refinance (buyout) before this loan age
    int loss_share_months       # before this loan age the claim is at least the advance
    int has_senior              # 1 if junior loans sit behind an amortising senior mortgage
    double junior_share         # share of loans (evenly in pool order) that are junior liens
    # Leverage (DOMAIN.md "Leverage"; equihome/model/leverage.py builds them)
    int nav_on                  # 1 if the NAV facility exists
    double nav_adv              # advance rate: most drawn / fair value of the live loans
    double nav_limit            # $ cap on the drawn balance (INFINITY: none)
    double nav_rate_m           # interest per month on the drawn balance, (base + spread) / 12
    double nav_fee_m            # commitment fee per month on the undrawn limit
    int nav_deploy              # 1 draws fund originations, 0 fees and expenses (liquidity)
    int nav_win_start           # draws only in months nav_win_start <= m < nav_win_end
    int nav_win_end
    double nav_covenant         # drawn / fair value above this: breach and cash sweep
    int sub_on                  # 1 if the subscription line exists
    double sub_frac             # limit: this fraction of the uncalled commitments
    double sub_rate_m           # interest per month on the drawn balance, rate / 12
    double sub_fee_m            # commitment fee per month on the undrawn limit
    int sub_months              # each draw is called back at most this many months later
    # The fund's own book (DOMAIN.md "The fund's own book"; equihome/model/portfolio.py)
    int start                   # E: the first month stepped (as_of; 0 without a portfolio)
    int n_tape                  # T: pool loans 0..T-1 are the tape's seasoned loans
    double open_cash            # cash at E, $
    double open_called          # equity called up to E, $


cdef struct Tables:
    # IN, arrays that are the same for every scenario of a run
    const f8* schedule          # (M+1,) $ of initial origination made available
    const f8* fee_rate          # (M+1,) annual management-fee rate in force
    const f8* expense           # (M+1,) expenses, $ (setup in month 0)
    const unsigned char* dist_mask  # (M+1,) 1 in distribution months
    const f8* rate_cum          # (M+2,) sum of the management-fee rates of months < m
    const f8* expense_cum       # (M+2,) sum of the expenses ($) of months < m
    const i4* next_dist         # (M+1,) the first distribution month after m (M at M)
    const f8* tier_thr          # (n_tiers + 1,) tier thresholds on the gain, inf last
    const f8* tier_share        # (n_tiers + 1,) marginal share of each tier
    const f8* cap_factor        # (M+1,) growth of the advance at the return cap, by age
    const f8* default_rate      # (Z,) annual default hazard at zero gain
    const f8* recovery          # (Z,) recovery rate on the collateral
    const f8* tr_size           # (NT,) debt tranche sizes, $, in priority order
    const f8* tr_rate           # (NT,) their monthly interest rates
    Py_ssize_t NT
    const f8* hazard_mult       # (M+1, 3) sale, refinance, default hazard multiples by month
    const f8* mult_up           # (M+1,) contract multiple by loan age (gains)
    const f8* mult_down         # (M+1,) contract multiple by loan age (losses)
    const f8* senior_factor     # (M+1,) senior balance / V0 by loan age (junior liens)
    const i4* tape_orig         # (T,) origination month of each seasoned loan
    const f8* tape_ratio        # (T,) home value at E / value at origination
    const f8* tape_rate         # (T,) simple interest per year
    const f8* tape_share        # (T,) share of the gain; NaN: the configured method
    const i4* tape_maturity     # (T,) maturity month (at least E + 1)
    const i4* tape_default      # (T,) default month of a loan in foreclosure, -1 if active
    const i4* tape_ctype        # (T,) the loan's own contract type; -1: the fund's contract
    const f8* tape_mult         # (T,) its multiple (both ways)
    const f8* tape_risk_adj     # (T,) its risk adjustment
    const f8* tape_cap          # (T,) its cap rate per year (monthly compounding); NaN: none
    const f8* tape_senior       # (T,) its senior mortgage balance / V0 at origination
    const f8* amort             # (M+1,) share of a senior mortgage left by loan age
    const f8* walk_sd           # (M+1,) home_sigma x sqrt(i / 12): the home walk's sd after i months
    const f8* walk_drift        # (M+1,) 0.5 home_sigma^2 x i / 12: its drift correction


cdef struct Pool:
    # IN, one scenario's pool in origination order, each (K,) unless noted
    const f8* size              # advance, $
    const f8* ltv               # advance / home value at origination
    const i4* zone
    const i4* suburb            # global suburb index, the column of lev
    const f8* e_exit            # Exp(1) draw of the exit race
    const f8* u_cause           # uniform picking the exit cause
    const f8* z_home            # (K, 2) normals of the home walk: to exit, over foreclosure
    const f8* lev               # (M+1, J) suburb price levels
    Py_ssize_t K
    Py_ssize_t J


cdef struct Book:
    # OUT, one scenario (run_ledger's docstring gives the shapes)
    f8* ledger                  # (N_COLS, M+1) by layout.LEDGER_COLUMNS
    f8* debt                    # (NT, M+1) each lender's flows, draws negative
    i4* orig_month              # (K,) origination month, -1 if never made
    i4* exit_month              # (K,) exit (or default) month
    i4* receipt_month           # (K,) month the cash arrives
    i1* exit_type               # (K,) layout.ExitKind
    i1* reinvested              # (K,) 1 if funded mostly by recycled principal
    f8* proceeds                # (K,) $ received at the receipt month
    i1* cap_bound               # (K,) 1 if the return cap bound the claim at exit
    f8* lever                   # (N_LEVER, M+1) by layout.LEVER_ROWS; NULL without a facility
    f8* opening                 # the scenario's NAV at E before E's flows, $ (0 at E = 0)
    Py_ssize_t made             # loans made: pool loans 0 .. made - 1 (set at the end)


cdef struct Fund:
    # the running state of one scenario's fund; the arrays are scratch of length M+1
    int m                       # the current month
    Py_ssize_t k                # the next pool loan
    f8 cash                     # $ on hand
    f8 called                   # equity called so far, $
    f8 arrears                  # charges owed and not yet paid, $
    f8 earmark                  # recycled principal waiting to fund new loans, $
    f8 sched                    # initial schedule not yet originated, $
    f8 basis                    # this month's management-fee basis, $
    f8 nav_prev                 # last month's NAV, $
    f8 cost_prev                # last month's invested capital, $
    i1 exhausted                # 1 if the pool ran out while budget remained
    f8* proc_at                 # proceeds to arrive in each month, $
    f8* prin_at                 # principal part of those proceeds, $
    f8* nav_loans               # fair value of the live loans at each month end, $
    f8* cost_at                 # invested capital at each month end, $
    f8* disp_at                 # disposition fees due with each month's proceeds, $
    f8* debt_out                # (NT,) drawn balance of each tranche, $
    f8 nav_out                  # NAV facility drawn balance, $
    f8 sub_out                  # subscription line drawn balance, $
    f8* sub_due                 # line balance by the month of its draw, $ (oldest first)
    Py_ssize_t sub_head         # the first month whose draw may still be outstanding
    i1 breach                   # 1 if the NAV covenant is breached this month
    f8 fac_fees                 # facilities' commitment fees due this month, $


cdef enum:
    PHILOX_BLOCKS = 16          # Philox4x32 blocks encrypted at once (AVX2: four sets of 4)
    PHILOX_BUF = 32             # 64-bit words they give: PHILOX_BLOCKS x 2


cdef struct PhiloxStream:
    # one counter-based random stream (_random.pxi), held by value: the next block's counter,
    # the key and PHILOX_BLOCKS blocks of words buffered, handed out as numpy's bitgen_t would
    uint32_t ctr[4]             # counter of the next block to encrypt (word 0 counts blocks)
    uint32_t key[2]
    uint64_t buffer[32]         # the last PHILOX_BLOCKS blocks' words, block by block
    int buffer_pos              # next word of buffer to hand out (PHILOX_BUF: encrypt more)
    int has_uint32              # 1 if uinteger holds the high half of the last 64-bit word
    uint32_t uinteger
