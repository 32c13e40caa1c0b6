# Included by _core.pyx (one compiled module; split for reading). Counter-based random streams.

# --------------------------------------------------------------------------- random streams
#
# Philox4x64-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11; the
# Random123 library), exactly as numpy.random.Philox implements it: a 2-word key, a 4-word
# counter that is incremented (word 0 first, carrying into words 1, 2, 3) *before* each
# block is encrypted, and the block's 4 output words handed out in order 0, 1, 2, 3. Blocks
# are encrypted PHILOX_LANES at a time with their rounds interleaved (philox_lanes), which
# changes the speed, not the words. The stream is wrapped as numpy's bitgen_t, so numpy's own
# C samplers (c_distributions: ziggurat normals, 53-bit uniforms) turn its bits into the same
# numbers as numpy.random.Generator(numpy.random.Philox(key=..., counter=...)). The hot
# samplers, stream_normals and stream_uniforms, run numpy's ziggurat fast path and 53-bit
# uniform inline (no call through a function pointer) and hand the rare rejected normal to
# numpy's own sampler on the same word, so every number stays numpy's.
#
# Stream of (seed, scenario s, purpose p), the scheme equihome/model/streams.py documents
# and mirrors in numpy:
#   key     = (splitmix64 #1 of seed, splitmix64 #2 of seed)
#   counter = (0, s, p, b) before the first block, so block j (j = 0, 1, ...) encrypts
#             (j + 1, s, p, b); word 3, b, is the loan pool's block index (0 elsewhere).
# No object per scenario: a PhiloxStream is a plain struct on the stack.

cdef extern from *:
    """
    /* Philox4x64 round multipliers and Weyl key increments (Random123, numpy's philox.h);
       SplitMix64's increment and multipliers (Steele, Lea, Flood 2014; Vigna's splitmix64.c). */
    #define EQH_PHILOX_M0 0xD2E7470EE14C6C93ULL
    #define EQH_PHILOX_M1 0xCA5A826395121157ULL
    #define EQH_PHILOX_W0 0x9E3779B97F4A7C15ULL
    #define EQH_PHILOX_W1 0xBB67AE8584CAA73BULL
    #define EQH_SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL
    #define EQH_SPLITMIX_M1 0xBF58476D1CE4E5B9ULL
    #define EQH_SPLITMIX_M2 0x94D049BB133111EBULL

    /* low word of a * b, high word in *hi: the full 128-bit product */
    static inline uint64_t eqh_mulhilo64(uint64_t a, uint64_t b, uint64_t *hi) {
    #ifdef __SIZEOF_INT128__
        __uint128_t p = (__uint128_t)a * (__uint128_t)b;
        *hi = (uint64_t)(p >> 64);
        return (uint64_t)p;
    #else
        uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
        uint64_t hh = a_hi * b_hi, hl = a_hi * b_lo, lh = a_lo * b_hi, ll = a_lo * b_lo;
        uint64_t carry = ((uint64_t)(uint32_t)hl + (uint64_t)(uint32_t)lh + (ll >> 32)) >> 32;
        *hi = hh + (hl >> 32) + (lh >> 32) + carry;
        return ll + ((hl + lh) << 32);
    #endif
    }
    """
    const uint64_t PHILOX_M0 "EQH_PHILOX_M0"
    const uint64_t PHILOX_M1 "EQH_PHILOX_M1"
    const uint64_t PHILOX_W0 "EQH_PHILOX_W0"
    const uint64_t PHILOX_W1 "EQH_PHILOX_W1"
    const uint64_t SPLITMIX_GAMMA "EQH_SPLITMIX_GAMMA"
    const uint64_t SPLITMIX_M1 "EQH_SPLITMIX_M1"
    const uint64_t SPLITMIX_M2 "EQH_SPLITMIX_M2"
    uint64_t mulhilo64 "eqh_mulhilo64"(uint64_t a, uint64_t b, uint64_t* hi) noexcept nogil

cdef enum:  # compile-time constants, so the C compiler unrolls the rounds
    PHILOX_ROUNDS = 10
cdef double TWO_POW_M53 = 1.0 / 9007199254740992.0  # 2**-53: a 53-bit integer to [0, 1)


cdef inline double unit_double(uint64_t w) noexcept nogil:
    """A 64-bit word as a double in [0, 1): its top 53 bits x 2**-53 (numpy's next_double)."""
    return <double>(w >> 11) * TWO_POW_M53


cdef inline void philox_round(uint64_t* c, uint64_t k0, uint64_t k1) noexcept nogil:
    """One Philox4x64 round on the 4-word block c under round key (k0, k1)."""
    cdef uint64_t lo0, lo1, hi0, hi1
    lo0 = mulhilo64(PHILOX_M0, c[0], &hi0)
    lo1 = mulhilo64(PHILOX_M1, c[2], &hi1)
    c[0], c[1], c[2], c[3] = hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0


cdef inline void philox4x64_10(const uint64_t* ctr, const uint64_t* key,
                               uint64_t* out) noexcept nogil:
    """out = Philox4x64-10(ctr, key): 10 rounds, the key bumped by the Weyl words after each."""
    cdef uint64_t k0 = key[0], k1 = key[1]
    cdef int r
    out[0], out[1], out[2], out[3] = ctr[0], ctr[1], ctr[2], ctr[3]
    for r in range(PHILOX_ROUNDS):
        if r > 0:
            k0 = k0 + PHILOX_W0
            k1 = k1 + PHILOX_W1
        philox_round(out, k0, k1)


cdef void philox_lanes(PhiloxStream* st) noexcept nogil:
    """Encrypt the stream's next PHILOX_LANES (2) blocks into st.buffer (block b's words at 4b ..
    4b + 3), the counter incremented (with carries) before each block as numpy does one block
    at a time; the two blocks' rounds are interleaved so their multiplies overlap."""
    cdef uint64_t a[4]
    cdef uint64_t b[4]
    cdef uint64_t k0 = st.key[0], k1 = st.key[1]
    cdef int r
    counter_next(st.ctr)
    a[0], a[1], a[2], a[3] = st.ctr[0], st.ctr[1], st.ctr[2], st.ctr[3]
    counter_next(st.ctr)
    b[0], b[1], b[2], b[3] = st.ctr[0], st.ctr[1], st.ctr[2], st.ctr[3]
    for r in range(PHILOX_ROUNDS):
        if r > 0:
            k0 = k0 + PHILOX_W0
            k1 = k1 + PHILOX_W1
        philox_round(a, k0, k1)
        philox_round(b, k0, k1)
    st.buffer[0], st.buffer[1], st.buffer[2], st.buffer[3] = a[0], a[1], a[2], a[3]
    st.buffer[4], st.buffer[5], st.buffer[6], st.buffer[7] = b[0], b[1], b[2], b[3]
    st.buffer_pos = 0


cdef inline void counter_next(uint64_t* ctr) noexcept nogil:
    """Increment a 4-word Philox counter: word 0, carrying into words 1, 2, 3."""
    ctr[0] += 1
    if ctr[0] == 0:
        ctr[1] += 1
        if ctr[1] == 0:
            ctr[2] += 1
            if ctr[2] == 0:
                ctr[3] += 1


cdef inline uint64_t splitmix64(uint64_t* state) noexcept nogil:
    """Next output of SplitMix64 (advances ``state`` by its increment)."""
    state[0] = state[0] + SPLITMIX_GAMMA
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * SPLITMIX_M1
    z = (z ^ (z >> 27)) * SPLITMIX_M2
    return z ^ (z >> 31)


cdef inline void stream_key(uint64_t seed, uint64_t* key) noexcept nogil:
    """The run's Philox key from its seed: SplitMix64's first two outputs from state ``seed``."""
    cdef uint64_t state = seed
    key[0] = splitmix64(&state)
    key[1] = splitmix64(&state)


cdef inline void stream_init(PhiloxStream* st, const uint64_t* key, uint64_t scenario,
                             uint64_t purpose, uint64_t block) noexcept nogil:
    """Place ``st`` at the start of the stream of (key, scenario, purpose, block): counter
    (0, scenario, purpose, block), empty buffer (numpy's Philox state after construction)."""
    st.key[0] = key[0]
    st.key[1] = key[1]
    st.ctr[0] = 0
    st.ctr[1] = scenario
    st.ctr[2] = purpose
    st.ctr[3] = block
    st.buffer_pos = PHILOX_BUF
    st.has_uint32 = 0
    st.uinteger = 0


cdef inline uint64_t stream_next64(void* p) noexcept nogil:
    """Next 64-bit word: from the buffer, else encrypt the next PHILOX_LANES blocks."""
    cdef PhiloxStream* st = <PhiloxStream*>p
    if st.buffer_pos == PHILOX_BUF:
        philox_lanes(st)
    st.buffer_pos += 1
    return st.buffer[st.buffer_pos - 1]


cdef uint32_t stream_next32(void* p) noexcept nogil:
    """Next 32-bit word: the low half of a 64-bit word, its high half on the next call."""
    cdef PhiloxStream* st = <PhiloxStream*>p
    cdef uint64_t w
    if st.has_uint32:
        st.has_uint32 = 0
        return st.uinteger
    w = stream_next64(p)
    st.has_uint32 = 1
    st.uinteger = <uint32_t>(w >> 32)
    return <uint32_t>w  # the low 32 bits


cdef double stream_next_double(void* p) noexcept nogil:
    """Next double in [0, 1): the top 53 bits of a 64-bit word times 2**-53."""
    return unit_double(stream_next64(p))


# numpy's ziggurat for the standard normal, as its sampler reads one 64-bit word r: idx = the
# low 8 bits, then a sign bit, then rabs = the next 52 bits; x = rabs * ZIG_W[idx], negated
# when the sign bit is set, is accepted when rabs < ZIG_K[idx] (about 99 % of words). The two
# tables are numpy's own, read off its sampler once at import (ziggurat_tables).
cdef f8 ZIG_W[256]
cdef uint64_t ZIG_K[256]
cdef uint64_t RABS_END = 1 << 52   # rabs < 2**52
cdef uint64_t RABS_MASK = RABS_END - 1
cdef f8[2] SIGN = [1.0, -1.0]


cdef inline f8 stream_normal(PhiloxStream* st, bitgen_t* bg) noexcept nogil:
    """Next standard normal of the stream (stream_normals of one)."""
    cdef f8 x
    stream_normals(st, bg, 1, &x)
    return x


cdef inline f8 stream_uniform(PhiloxStream* st) noexcept nogil:
    """Next uniform in [0, 1) of the stream: numpy's next_double (top 53 bits x 2**-53)."""
    return unit_double(stream_next64(st))


cdef void stream_normals(PhiloxStream* st, bitgen_t* bg, Py_ssize_t n, f8* out) noexcept nogil:
    """out[0:n] = the stream's next n standard normals, numpy's random_standard_normal_fill
    bit for bit: its ziggurat's fast path inline; a rejected word is left unread for numpy's
    own sampler (on ``bg``, which wraps ``st``), which reads it again and goes on exactly as
    it always does. The buffer position is kept in a local, stored back to the stream only
    around the calls that read it (the refill, numpy's sampler)."""
    cdef Py_ssize_t i
    cdef int pos = st.buffer_pos, idx
    cdef uint64_t r, rabs
    for i in range(n):
        if pos == PHILOX_BUF:
            philox_lanes(st)
            pos = 0
        r = st.buffer[pos]
        idx = <int>(r & 0xFF)
        rabs = (r >> 9) & RABS_MASK
        if rabs < ZIG_K[idx]:
            out[i] = <f8>rabs * ZIG_W[idx] * SIGN[(r >> 8) & 1]  # x -1.0: no branch
            pos += 1
        else:
            st.buffer_pos = pos
            out[i] = random_standard_normal(bg)
            pos = st.buffer_pos
    st.buffer_pos = pos


cdef void stream_uniforms(PhiloxStream* st, Py_ssize_t n, f8* out) noexcept nogil:
    """out[0:n] = the stream's next n uniforms in [0, 1) (numpy's random_standard_uniform_fill),
    the buffer position in a local as in stream_normals."""
    cdef Py_ssize_t i
    cdef int pos = st.buffer_pos
    for i in range(n):
        if pos == PHILOX_BUF:
            philox_lanes(st)
            pos = 0
        out[i] = unit_double(st.buffer[pos])
        pos += 1
    st.buffer_pos = pos


cdef struct ZigProbe:
    # a bit generator that hands out ``first``, then the words of ``tail``, counting them
    uint64_t first
    int used
    PhiloxStream tail


cdef uint64_t probe_next64(void* p) noexcept nogil:
    """ZigProbe's next word: ``first`` once, then its tail stream's."""
    cdef ZigProbe* pr = <ZigProbe*>p
    pr.used += 1
    return pr.first if pr.used == 1 else stream_next64(&pr.tail)


cdef uint32_t probe_next32(void* p) noexcept nogil:
    """ZigProbe's next 32-bit word (the low half of its next word; numpy's normal reads none)."""
    return <uint32_t>probe_next64(p)


cdef double probe_next_double(void* p) noexcept nogil:
    """ZigProbe's next double in [0, 1)."""
    return unit_double(probe_next64(p))


cdef bint probe_accepts(bitgen_t* bg, ZigProbe* pr, int idx, uint64_t rabs, f8* x) noexcept nogil:
    """1 if numpy's normal sampler returns ``x`` from the single word (idx, sign +, rabs)."""
    pr.first = <uint64_t>idx | (rabs << 9)
    pr.used = 0
    x[0] = random_standard_normal(bg)
    return pr.used == 1


cdef int ziggurat_tables() except -1:
    """Read numpy's ziggurat tables off its own sampler: ZIG_W[idx] is the normal it returns for
    rabs = 1; ZIG_K[idx] the least rabs it rejects (binary search, acceptance being rabs <
    ki[idx]; 2**52 if it rejects none; numpy's layer 1 rejects every word). test_streams holds
    stream_normal to numpy bit for bit."""
    cdef ZigProbe pr
    cdef bitgen_t bg
    cdef uint64_t key[2]
    cdef uint64_t lo, hi, mid
    cdef f8 x
    cdef int idx
    stream_key(20261204, key)  # any stream: its words only feed the rejection paths probed
    stream_init(&pr.tail, key, 0, 0, 0)
    bg.state = <void*>&pr
    bg.next_uint64 = &probe_next64
    bg.next_uint32 = &probe_next32
    bg.next_double = &probe_next_double
    bg.next_raw = &probe_next64
    for idx in range(256):
        if not probe_accepts(&bg, &pr, idx, 1, &x):  # a layer that rejects (almost) every word
            ZIG_W[idx] = 0.0  # only ever times rabs = 0
            ZIG_K[idx] = 1 if probe_accepts(&bg, &pr, idx, 0, &x) else 0
            continue
        ZIG_W[idx] = x
        lo, hi = 1, RABS_END
        while hi - lo > 1:  # accepted at lo, rejected at hi (or hi = 2**52, past every rabs)
            mid = lo + (hi - lo) // 2
            if probe_accepts(&bg, &pr, idx, mid, &x):
                lo = mid
            else:
                hi = mid
        ZIG_K[idx] = hi
    return 0


ziggurat_tables()


def ziggurat_table():
    """(W, K): copies of the ziggurat tables stream_normal read off numpy's sampler, (256,)
    float64 and uint64; a word's normal takes the inline fast path when rabs < K[idx]."""
    return (np.array(<f8[:256]>ZIG_W), np.array(<uint64_t[:256]>ZIG_K))


cdef inline void stream_bitgen(PhiloxStream* st, bitgen_t* bg) noexcept nogil:
    """Wrap ``st`` as numpy's bitgen_t, for the samplers of numpy.random.c_distributions."""
    bg.state = <void*>st
    bg.next_uint64 = &stream_next64
    bg.next_uint32 = &stream_next32
    bg.next_double = &stream_next_double
    bg.next_raw = &stream_next64


cdef uint64_t as_u64(str name, object value) except? 0:
    """``value`` as an unsigned 64-bit word; ValueError naming ``name`` when out of range."""
    if not hasattr(type(value), "__index__") or not 0 <= value < 2 ** 64:
        raise ValueError(f"{name}: must be an integer in [0, 2**64), got {value!r}")
    return <uint64_t>value.__index__()


def philox_block(const uint64_t[::1] ctr, const uint64_t[::1] key, uint64_t[::1] out):
    """One Philox4x64-10 block: ``out`` (4,) = bijection of ``ctr`` (4,) under ``key`` (2,).

    No counter increment: this is the raw function of the Random123 known-answer vectors.
    """
    if ctr.shape[0] != 4 or key.shape[0] != 2 or out.shape[0] != 4:
        raise ValueError(f"philox_block: ctr, key, out must have 4, 2, 4 words, got "
                         f"{ctr.shape[0]}, {key.shape[0]}, {out.shape[0]}")
    with nogil:
        philox4x64_10(&ctr[0], &key[0], &out[0])


def philox_key(seed):
    """The stream key (k0, k1) of a run seed (0 <= seed < 2**64), as two Python ints."""
    cdef uint64_t key[2]
    stream_key(as_u64("seed", seed), key)
    return key[0], key[1]


cdef int raw_stream(PhiloxStream* st, const uint64_t[::1] key,
                    const uint64_t[::1] counter) except -1:
    """Place ``st`` at numpy's Philox(key=key, counter=counter) state (key (2,), counter (4,))."""
    if key.shape[0] != 2 or counter.shape[0] != 4:
        raise ValueError(f"key and counter: must have 2 and 4 words, got {key.shape[0]} "
                         f"and {counter.shape[0]}")
    stream_init(st, &key[0], counter[1], counter[2], counter[3])
    st.ctr[0] = counter[0]
    return 0


def fill_raw(const uint64_t[::1] key, const uint64_t[::1] counter, uint64_t[::1] out):
    """``out`` (n,) = the first n 64-bit words of Philox4x64-10 from (key, counter): numpy's
    ``Philox(key=key, counter=counter).random_raw(n)``."""
    cdef PhiloxStream st
    cdef Py_ssize_t i
    raw_stream(&st, key, counter)
    with nogil:
        for i in range(out.shape[0]):
            out[i] = stream_next64(&st)


def fill_raw32(const uint64_t[::1] key, const uint64_t[::1] counter, uint32_t[::1] out):
    """``out`` (n,) = the first n 32-bit words from (key, counter): each 64-bit word's low
    half, then its high half (numpy's next_uint32)."""
    cdef PhiloxStream st
    cdef Py_ssize_t i
    raw_stream(&st, key, counter)
    with nogil:
        for i in range(out.shape[0]):
            out[i] = stream_next32(&st)


cdef int check_rows(uint64_t scenario_start, Py_ssize_t S) except -1:
    """ValueError unless scenarios scenario_start .. scenario_start + S - 1 all exist."""
    if S > 0 and scenario_start > UINT64_MAX - <uint64_t>(S - 1):
        raise ValueError(f"scenario_start: {scenario_start} + {S} rows passes the last "
                         f"scenario index 2**64 - 1")
    return 0


cdef int fill_rows(uint64_t seed, uint64_t purpose, uint64_t scenario_start, f8[:, ::1] out,
                   int normal) except -1:
    """Row r of ``out`` = the first out.shape[1] standard normals (normal=1) or uniforms
    in [0, 1) (normal=0) of the stream (seed, scenario_start + r, purpose)."""
    cdef uint64_t key[2]
    cdef PhiloxStream st
    cdef bitgen_t bg
    cdef Py_ssize_t r, S = out.shape[0], n = out.shape[1]
    if S == 0 or n == 0:
        return 0
    check_rows(scenario_start, S)
    stream_key(seed, key)
    stream_bitgen(&st, &bg)
    with nogil:
        for r in range(S):
            stream_init(&st, key, scenario_start + <uint64_t>r, purpose, 0)
            if normal:
                stream_normals(&st, &bg, n, &out[r, 0])
            else:
                stream_uniforms(&st, n, &out[r, 0])
    return 0


def fill_normals(seed, purpose, scenario_start, f8[:, ::1] out):
    """Standard normals: row r of ``out`` (S, n) is scenario ``scenario_start + r``'s stream
    ``purpose`` under ``seed`` (numpy's ziggurat on Philox4x64-10; streams.fill_normals is
    the numpy twin, bit for bit). Runs without the GIL."""
    fill_rows(as_u64("seed", seed), as_u64("purpose", purpose),
              as_u64("scenario_start", scenario_start), out, 1)


def fill_uniforms(seed, purpose, scenario_start, f8[:, ::1] out):
    """Uniforms in [0, 1) (53-bit): as :func:`fill_normals`, numpy's ``Generator.random``."""
    fill_rows(as_u64("seed", seed), as_u64("purpose", purpose),
              as_u64("scenario_start", scenario_start), out, 0)
