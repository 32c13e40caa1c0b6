# Included by _core.pyx (one compiled module; split for reading). The loan pools, drawn from
# the Philox streams (_random.pxi) inside the kernel; equihome/model/reference_pools.py is the
# numpy twin (the same numbers, drawn through equihome/model/streams.py).

from equihome.model.streams import TAPE_BLOCK as _TAPE_BLOCK
from equihome.model.streams import Purpose as _Purpose

cdef uint64_t P_LOAN_SIZE = _Purpose.LOAN_SIZE, P_LOAN_LTV = _Purpose.LOAN_LTV
cdef uint64_t P_LOAN_SUBURB = _Purpose.LOAN_SUBURB, P_EXIT_RACE = _Purpose.EXIT_RACE
cdef uint64_t P_EXIT_CAUSE = _Purpose.EXIT_CAUSE, P_HOME_WALK = _Purpose.HOME_WALK
cdef uint64_t TAPE_BLOCK = _TAPE_BLOCK  # the pool block of the tape's streams (pool blocks: 0, 1..)


cdef void truncated_normal_fill(PhiloxStream* st, bitgen_t* bg, f8 mean, f8 sd, f8 lo, f8 hi,
                                Py_ssize_t n, f8* out, Py_ssize_t* todo, f8* x,
                                f8* v) noexcept nogil:
    """out[0:n] = Normal(mean, sd) conditioned on [lo, hi] (exact, by rejection in passes).

    Each pass proposes for the loans still to fill, in index order: wide intervals (at
    least 0.4 sd) from the normal, mean + sd z; narrow ones uniformly, lo + (hi - lo) u,
    accepted when a second batch of uniforms v < exp(-(x - mean)^2 / (2 sd^2)). The draws
    and their order are numpy's loan_generator.truncated_normal on the same stream (``st``,
    which ``bg`` wraps).
    Scratch todo, x, v: n each. sd == 0 or lo == hi: mean clipped to [lo, hi], no draw.
    """
    cdef Py_ssize_t i, a, nt = n, keep
    cdef f8 c, y
    cdef int wide = hi - lo >= 0.4 * sd
    if sd == 0.0 or lo == hi:
        c = fmin(fmax(mean, lo), hi)
        for i in range(n):
            out[i] = c
        return
    for i in range(n):
        todo[i] = i
    while nt > 0:
        keep = 0
        if wide:  # the pass's normals in one call: the same words, in the same order
            stream_normals(st, bg, nt, x)
            for a in range(nt):
                y = mean + sd * x[a]
                if y >= lo and y <= hi:
                    out[todo[a]] = y
                else:
                    todo[keep] = todo[a]
                    keep += 1
        else:
            for a in range(nt):
                x[a] = lo + (hi - lo) * stream_uniform(st)
            for a in range(nt):
                v[a] = stream_uniform(st)
            for a in range(nt):
                y = (x[a] - mean) / sd
                if v[a] < own_exp(-0.5 * (y * y)):
                    out[todo[a]] = x[a]
                else:
                    todo[keep] = todo[a]
                    keep += 1
        nt = keep


def draw_pools(seed, scenario_start, Py_ssize_t block, const f8[:, ::1] laws,
               const f8[::1] alloc, int n_sub, f8[:, ::1] size, f8[:, ::1] ltv,
               i4[:, ::1] zone, i4[:, ::1] suburb, f8[:, ::1] e_exit, f8[:, ::1] u_cause,
               f8[:, :, ::1] z_home):
    """Draw the loan pools of scenarios scenario_start .. + S - 1 and assign their zones.

    Row r is scenario ``scenario_start + r``'s pool of K = n_blocks x ``block`` loans. Pool
    block b (loans b*block .. (b+1)*block - 1) draws from its own streams (pool block b, one
    purpose per kind, streams.Purpose): advances (LOAN_SIZE) and LTVs (LOAN_LTV) from
    truncated normals, suburb uniforms (LOAN_SUBURB), Exp(1) exit-race draws (EXIT_RACE),
    exit-cause uniforms (EXIT_CAUSE) and 2 home-walk normals a loan (HOME_WALK); a longer
    pool extends a shorter one without changing it. Then :func:`assign_zones` on the row.
    IN laws: (2, 4) [mean, sd, lo, hi] of the advance ($) and of the LTV; alloc: (Z,) zone
    shares, Z <= 8; n_sub: suburbs per zone. OUT size, ltv, e_exit, u_cause: (S, K);
    zone, suburb: (S, K) int32; z_home: (S, K, 2). Runs without the GIL.
    """
    cdef uint64_t s0 = as_u64("scenario_start", scenario_start)
    cdef uint32_t key[2]
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], Z = alloc.shape[0], r, b, o
    cdef PhiloxStream st
    cdef bitgen_t bg
    if block < 1 or K % block:
        raise ValueError(f"block: must be a positive divisor of the pool length {K}, got {block}")
    if K // block > <Py_ssize_t>TAPE_BLOCK:  # block indices 0 .. TAPE_BLOCK - 1
        raise ValueError(f"block: at most {TAPE_BLOCK} pool blocks have streams, got {K // block}")
    if laws.shape[0] != 2 or laws.shape[1] != 4:
        raise ValueError(f"laws: must be (2, 4), got ({laws.shape[0]}, {laws.shape[1]})")
    if Z > 8:
        raise ValueError(f"alloc: at most 8 zones fit the zone table, got {Z}")
    for name, a in (("ltv", ltv), ("zone", zone), ("suburb", suburb), ("e_exit", e_exit),
                    ("u_cause", u_cause), ("z_home", z_home)):
        if a.shape[0] != S or a.shape[1] != K:
            raise ValueError(f"{name}: must be ({S}, {K}, ...) like size, got {a.shape}")
    if z_home.shape[2] != 2:
        raise ValueError(f"z_home: must be ({S}, {K}, 2), got {z_home.shape}")
    if S == 0 or K == 0:
        return
    check_rows(s0, S)
    cdef Py_ssize_t[::1] todo = np.empty(block, dtype=np.intp)
    cdef f8[:, ::1] scratch = np.empty((2, block))
    cdef f8[::1] u_sub = np.empty(K)
    stream_key(as_u64("seed", seed), key)
    stream_bitgen(&st, &bg)
    with nogil:
        for r in range(S):
            for b in range(K // block):
                o = b * block
                stream_init(&st, key, s0 + <uint64_t>r, P_LOAN_SIZE, <uint64_t>b)
                truncated_normal_fill(&st, &bg, laws[0, 0], laws[0, 1], laws[0, 2],
                                      laws[0, 3], block, &size[r, o], &todo[0], &scratch[0, 0],
                                      &scratch[1, 0])
                stream_init(&st, key, s0 + <uint64_t>r, P_LOAN_LTV, <uint64_t>b)
                truncated_normal_fill(&st, &bg, laws[1, 0], laws[1, 1], laws[1, 2],
                                      laws[1, 3], block, &ltv[r, o], &todo[0], &scratch[0, 0],
                                      &scratch[1, 0])
                stream_init(&st, key, s0 + <uint64_t>r, P_LOAN_SUBURB, <uint64_t>b)
                stream_uniforms(&st, block, &u_sub[o])
                stream_init(&st, key, s0 + <uint64_t>r, P_EXIT_RACE, <uint64_t>b)
                stream_exponentials(&st, &bg, block, &e_exit[r, o])
                stream_init(&st, key, s0 + <uint64_t>r, P_EXIT_CAUSE, <uint64_t>b)
                stream_uniforms(&st, block, &u_cause[r, o])
                stream_init(&st, key, s0 + <uint64_t>r, P_HOME_WALK, <uint64_t>b)
                stream_normals(&st, &bg, 2 * block, &z_home[r, o, 0])
            assign_row(&size[r, 0], &u_sub[0], &alloc[0], Z, n_sub, K, &zone[r, 0],
                       &suburb[r, 0])


def draw_tape(seed, scenario_start, f8[:, ::1] e_exit, f8[:, ::1] u_cause, f8[:, :, ::1] z_home):
    """The random draws of a loan tape's T seasoned loans for scenarios scenario_start .. + S - 1.

    Row r is scenario ``scenario_start + r``: Exp(1) exit-race draws (EXIT_RACE), exit-cause
    uniforms (EXIT_CAUSE) and 2 home-walk normals a loan (HOME_WALK), each from its purpose's
    stream of pool block TAPE_BLOCK (apart from every pool block's). OUT e_exit, u_cause:
    (S, T); z_home: (S, T, 2). Runs without the GIL.
    """
    cdef uint64_t s0 = as_u64("scenario_start", scenario_start)
    cdef uint32_t key[2]
    cdef Py_ssize_t S = e_exit.shape[0], T = e_exit.shape[1], r
    cdef PhiloxStream st
    cdef bitgen_t bg
    if u_cause.shape[0] != S or u_cause.shape[1] != T or z_home.shape[0] != S or (
            z_home.shape[1] != T or z_home.shape[2] != 2):
        raise ValueError(f"u_cause: must be ({S}, {T}) and z_home ({S}, {T}, 2) like e_exit, "
                         f"got {u_cause.shape} and {z_home.shape}")
    if S == 0 or T == 0:
        return
    check_rows(s0, S)
    stream_key(as_u64("seed", seed), key)
    stream_bitgen(&st, &bg)
    with nogil:
        for r in range(S):
            stream_init(&st, key, s0 + <uint64_t>r, P_EXIT_RACE, TAPE_BLOCK)
            stream_exponentials(&st, &bg, T, &e_exit[r, 0])
            stream_init(&st, key, s0 + <uint64_t>r, P_EXIT_CAUSE, TAPE_BLOCK)
            stream_uniforms(&st, T, &u_cause[r, 0])
            stream_init(&st, key, s0 + <uint64_t>r, P_HOME_WALK, TAPE_BLOCK)
            stream_normals(&st, &bg, 2 * T, &z_home[r, 0, 0])
