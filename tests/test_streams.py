"""Counter-based random streams: the Cython core's Philox4x32-10 (``equihome/_random.pxi``)
against the published known answers, against the numpy twin (``equihome/model/streams.py``)
bit for bit, and its numbers' statistics.

Statistical checks allow Z = 5 standard errors (the brief's bound; P(|N(0,1)| > 5) = 5.7e-7
per check) and a Kolmogorov-Smirnov distance below KS_CRIT / sqrt(n) with KS_CRIT = 1.95
(P(K > 1.95) = 0.001 under the null). The seeds are fixed, so the runs are reproducible.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from equihome import _core
from equihome.model import streams
from equihome.model.streams import Purpose

Z = 5.0
KS_CRIT = 1.95
N_STAT = 1_000_000
U64 = np.uint64

# (counter, key, output) of Philox4x32-10 from Random123's kat_vectors.
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([2**32 - 1] * 4, [2**32 - 1] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]
# (seed, scenario, purpose) triples, from the smallest to the largest words.
STREAMS = [(0, 0, 0), (42, 0, Purpose.PRICES), (42, 7, Purpose.LOAN_SIZE), (42, 999, Purpose.SUBURBS),
           (2**63 - 1, 123_456, Purpose.REGIME), (2**64 - 1, 2**64 - 1, 255)]
# draw counts around the 32-word buffer (16 blocks) and long enough to meet ziggurat rejections
LENGTHS = [1, 3, 31, 32, 33, 63, 64, 65, 1000, 4099]
BUFFER = 32  # 64-bit words the kernel encrypts at once (_core.pxd: PHILOX_BUF)


def a32(words: list[int] | tuple[int, ...]) -> np.ndarray:
    return np.array(words, dtype=np.uint32)


def core_raw(key, counter: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=U64)
    _core.fill_raw(a32(key), a32(counter), out)
    return out


def core_fill(kind: str, seed: int, purpose: int, start: int, shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, np.nan)
    getattr(_core, f"fill_{kind}")(seed, purpose, start, out)
    return out


def twin_fill(kind: str, seed: int, purpose: int, start: int, shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, np.nan)
    getattr(streams, f"fill_{kind}")(seed, purpose, start, out)
    return out


# --------------------------------------------------------------------------- Philox itself


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_philox_block_matches_the_random123_known_answers(ctr, key, expected):
    out = np.zeros(4, dtype=np.uint32)
    _core.philox_block(a32(ctr), a32(key), out)
    assert [hex(int(w)) for w in out] == [hex(w) for w in expected]
    twin = streams.philox4x32(a32(ctr)[None, :], key)[0]
    assert [hex(int(w)) for w in twin] == [hex(w) for w in expected]


def test_block_j_encrypts_the_counter_plus_j_and_gives_two_words_low_half_first():
    """Word 0 of the counter counts blocks (wrapping mod 2**32, no carry into word 1); block
    j's outputs x0..x3 are the words x0 + 2**32 x1 and x2 + 2**32 x3."""
    key, ctr = (5, 6), [2**32 - 2, 9, 8, 7]
    words = core_raw(key, a32(ctr), 8)
    for j, c0 in enumerate([2**32 - 2, 2**32 - 1, 0, 1]):
        x = np.zeros(4, dtype=np.uint32)
        _core.philox_block(a32([c0, 9, 8, 7]), a32(key), x)
        x = [int(v) for v in x]
        assert [int(w) for w in words[2 * j:2 * j + 2]] == [x[0] | x[1] << 32, x[2] | x[3] << 32]


@pytest.mark.parametrize("seed, scenario, purpose", STREAMS)
def test_raw_words_equal_the_numpy_twin(seed, scenario, purpose):
    key, ctr = _core.philox_key(seed), streams.stream_counter(scenario, purpose)
    expected = streams.raw_words(key, ctr, 1001)
    assert np.array_equal(core_raw(key, ctr, 1001), expected)
    assert np.array_equal(streams.bit_generator(seed, scenario, purpose).random_raw(1001),
                          expected)


def test_raw32_hands_out_low_then_high_halves_as_numpy_does():
    key, ctr = (11, 12), a32([1, 2, 3, 4])
    out = np.zeros(9, dtype=np.uint32)
    _core.fill_raw32(a32(key), ctr, out)
    words = core_raw(key, ctr, 5)
    halves = np.stack([words & U64(0xFFFFFFFF), words >> U64(32)], axis=1).ravel()[:9]
    assert np.array_equal(out, halves.astype(np.uint32))
    bitgen = streams.StreamBitGenerator(key, ctr)._bitgen  # numpy's bitgen_t, as numpy calls it
    assert [bitgen.next_uint32(None) for _ in range(9)] == out.tolist()


# --------------------------------------------------------------------------- keying


def test_key_is_splitmix64s_published_first_output():
    """Vigna's splitmix64.c from state 0 and from 1234567 (its first output), low word first."""
    assert streams.stream_key(0) == (0x7B1DCDAF, 0xE220A839)
    assert streams.stream_key(1234567) == (0xFB08FC85, 0x599ED017)
    for seed in (0, 1, 42, 1234567, 2**63 - 1, 2**64 - 1):
        assert _core.philox_key(seed) == streams.stream_key(seed)


def test_stream_counter_layout():
    assert streams.stream_counter(7, Purpose.SUBURBS).tolist() == [0, 3, 7, 0]
    assert streams.stream_counter(2**40 + 9, 255, 5).tolist() == [0, 255 + 5 * 256, 9, 256]
    assert streams.stream_counter(0, 4, streams.TAPE_BLOCK).tolist() == [0, 0xFFFFFF04, 0, 0]
    bg = streams.bit_generator(42, 7, Purpose.SUBURBS)
    assert bg.key == streams.stream_key(42)


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5])
def test_out_of_range_words_are_refused_naming_the_field(bad):
    with pytest.raises(ValueError, match=r"seed: must be an integer in \[0, 2\*\*64\)"):
        _core.fill_normals(bad, 0, 0, np.zeros((1, 1)))
    with pytest.raises(ValueError, match="seed: must be an integer"):
        streams.stream_key(bad)
    with pytest.raises(ValueError, match=r"purpose: must be an integer in \[0, 256\)"):
        _core.fill_uniforms(1, bad, 0, np.zeros((1, 1)))
    with pytest.raises(ValueError, match="scenario: must be an integer"):
        streams.stream_counter(bad, 0)


def test_purposes_and_pool_blocks_beyond_the_counter_word_are_refused():
    with pytest.raises(ValueError, match=r"purpose: must be an integer in \[0, 256\), got 256"):
        _core.fill_normals(1, 256, 0, np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"purpose: must be an integer in \[0, 256\)"):
        streams.stream_counter(0, 256)
    with pytest.raises(ValueError, match=r"block: must be an integer in \[0, 16777216\)"):
        streams.stream_counter(0, 4, 2**24)


def test_the_last_scenario_index_is_the_limit():
    out = np.zeros((2, 3))
    _core.fill_normals(1, 0, 2**64 - 2, out)  # scenarios 2**64 - 2 and 2**64 - 1
    assert np.array_equal(out, twin_fill("normals", 1, 0, 2**64 - 2, (2, 3)))
    with pytest.raises(ValueError, match=r"scenario_start: 18446744073709551615 \+ 2 rows"):
        _core.fill_normals(1, 0, 2**64 - 1, out)


# --------------------------------------------------------------------------- Cython vs numpy


SAMPLER = {"normals": "standard_normal", "uniforms": "random",
           "exponentials": "standard_exponential"}


@pytest.mark.parametrize("kind", list(SAMPLER))
@pytest.mark.parametrize("seed, scenario, purpose", STREAMS[:-1])
def test_fill_equals_the_numpy_twin_bit_for_bit(kind, seed, scenario, purpose):
    for n in LENGTHS:
        core = core_fill(kind, seed, purpose, scenario, (3, n))
        twin = twin_fill(kind, seed, purpose, scenario, (3, n))
        assert np.array_equal(core, twin), f"{kind} n={n}"
    method = SAMPLER[kind]
    first = getattr(streams.generator(seed, scenario, purpose), method)(LENGTHS[-1])
    assert np.array_equal(core[0], first)


def test_normals_cross_block_boundaries_as_numpy_does():
    """A row's n-th normal is numpy's n-th draw whatever the row length: growing n only
    appends (the buffer's leftover words are not lost between blocks)."""
    long = core_fill("normals", 42, 1, 5, (1, 64))[0]
    for n in range(1, 64):
        assert np.array_equal(core_fill("normals", 42, 1, 5, (1, n))[0], long[:n])
    assert np.array_equal(long, streams.generator(42, 5, 1).standard_normal(64))


def test_the_inline_ziggurat_hands_every_rejected_word_to_numpy_at_any_buffer_position():
    """stream_normals runs numpy's ziggurat fast path inline and leaves a rejected word for
    numpy's own sampler. Over 200,000 normals the stream's words are rejected at each of the
    32 positions of the 16-block buffer, and every normal is still numpy's."""
    W, K = _core.ziggurat_table()
    n = 200_000
    words = core_raw(streams.stream_key(11), streams.stream_counter(4, 1), n)
    idx, rabs = words & U64(0xFF), (words >> U64(9)) & U64((1 << 52) - 1)
    rejected = rabs >= K[idx.astype(int)]
    assert 0.005 < rejected.mean() < 0.02  # numpy's ziggurat takes its fast path ~99 % of the time
    assert set(np.flatnonzero(rejected) % BUFFER) == set(range(BUFFER))
    assert np.array_equal(core_fill("normals", 11, 1, 4, (1, n))[0],
                          streams.generator(11, 4, 1).standard_normal(n))
    first = int(np.argmax(rejected))  # up to the first rejected word, one word per normal
    assert first > 0
    assert np.array_equal(core_fill("normals", 11, 1, 4, (1, first))[0],
                          (rabs * W[idx.astype(int)] * np.where(words & U64(256), -1.0, 1.0))
                          [:first])


def test_the_inline_exponential_ziggurat_hands_every_rejected_word_to_numpy():
    """stream_exponentials, as stream_normals: numpy's fast path inline (ri = word >> 11 <
    K[idx], idx = bits 3..10), a rejected word left for numpy's sampler, at each of the 32
    buffer positions over 200,000 draws; every draw is numpy's."""
    W, K = _core.ziggurat_table("exponential")
    n = 200_000
    words = core_raw(streams.stream_key(12), streams.stream_counter(6, 2), n)
    idx, ri = ((words >> U64(3)) & U64(0xFF)).astype(int), words >> U64(11)
    rejected = ri >= K[idx]
    assert 0.015 < rejected.mean() < 0.03  # numpy's layers 0 and 1 reject 11 % and all
    assert set(np.flatnonzero(rejected) % BUFFER) == set(range(BUFFER))
    assert np.array_equal(core_fill("exponentials", 12, 2, 6, (1, n))[0],
                          streams.generator(12, 6, 2).standard_exponential(n))
    first = int(np.argmax(rejected))
    assert first > 0
    assert np.array_equal(core_fill("exponentials", 12, 2, 6, (1, first))[0],
                          (ri.astype(float) * W[idx])[:first])
    with pytest.raises(ValueError, match="kind: must be 'normal' or 'exponential', got 'gamma'"):
        _core.ziggurat_table("gamma")


def test_uniforms_are_the_top_53_bits_of_the_raw_words():
    key, ctr = streams.stream_key(9), streams.stream_counter(3, 2)
    u = core_fill("uniforms", 9, 2, 3, (1, 10))[0]
    words = core_raw(key, ctr, 10)
    assert u.tolist() == [int(w >> U64(11)) / 2.0**53 for w in words]


def test_the_twin_reads_row_r_from_scenario_start_plus_r():
    """streams.fill_normals writes with (out=) into rows; a fresh Generator's (size) agrees."""
    out = twin_fill("normals", 3, 0, 10, (2, 9))
    assert np.array_equal(out[1], streams.generator(3, 11, 0).standard_normal(9))


# --------------------------------------------------------------------------- independence of chunking


@pytest.mark.parametrize("kind", list(SAMPLER))
def test_any_scenario_regenerated_alone_equals_its_row_in_a_batch(kind):
    batch = core_fill(kind, 42, 1, 0, (50, 37))
    for s in (0, 1, 17, 49):
        assert np.array_equal(core_fill(kind, 42, 1, s, (1, 37))[0], batch[s])
    chunks = [core_fill(kind, 42, 1, a, (b - a, 37)) for a, b in [(0, 7), (7, 8), (8, 50)]]
    assert np.array_equal(np.vstack(chunks), batch)


def test_two_threads_filling_halves_equal_one_fill():
    one = core_fill("normals", 7, 3, 100, (400, 360))
    two = np.full_like(one, np.nan)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: _core.fill_normals(7, 3, 100 + a, two[a:a + 200]), (0, 200)))
    assert np.array_equal(one, two)


def test_the_fill_writes_only_its_rows_and_accepts_empty_arrays():
    out = np.full((4, 5), -1.0)
    _core.fill_normals(1, 0, 0, out[1:3])
    assert (out[[0, 3]] == -1.0).all() and np.isfinite(out[1:3]).all()
    _core.fill_uniforms(1, 0, 0, np.zeros((0, 5)))
    _core.fill_uniforms(1, 0, 0, np.zeros((3, 0)))


# --------------------------------------------------------------------------- statistics


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF by math.erf (scipy is not a dependency)."""
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0)).astype(float))


def ks_distance(x: np.ndarray, cdf) -> float:
    """Kolmogorov-Smirnov distance sup |F_n - F| of the sample x against ``cdf``."""
    f = cdf(np.sort(x))
    n = x.size
    i = np.arange(1, n + 1)
    return float(max((i / n - f).max(), (f - (i - 1) / n).max()))


def assert_within(value: float, expected: float, se: float, what: str) -> None:
    assert abs(value - expected) <= Z * se, (
        f"{what}: {value:.6g} vs {expected:.6g} ({(value - expected) / se:+.2f} standard errors)")


@pytest.fixture(scope="module")
def normals() -> np.ndarray:
    """10^6 normals: 1000 scenarios x 1000 draws of one purpose."""
    return core_fill("normals", 20240601, Purpose.PRICES, 0, (1000, N_STAT // 1000))


def test_normals_have_mean_0_variance_1_and_normal_tails(normals):
    x = normals.ravel()
    assert_within(x.mean(), 0.0, 1.0 / math.sqrt(x.size), "mean")
    assert_within(x.var(ddof=1), 1.0, math.sqrt(2.0 / (x.size - 1)), "variance")
    # fourth moment 3, Var(x^4) = 105 - 9 = 96
    assert_within(float((x**4).mean()), 3.0, math.sqrt(96.0 / x.size), "E[x^4]")
    p = 2.0 * (1.0 - 0.5 * (1.0 + math.erf(3.0 / math.sqrt(2.0))))  # P(|x| > 3) = 0.0027
    assert_within(float((np.abs(x) > 3.0).mean()), p, math.sqrt(p * (1 - p) / x.size), "|x| > 3")


def test_normals_pass_kolmogorov_smirnov(normals):
    x = normals.ravel()
    assert ks_distance(x, normal_cdf) * math.sqrt(x.size) < KS_CRIT


def test_uniforms_have_the_moments_and_ks_of_uniform_0_1():
    u = core_fill("uniforms", 20240601, Purpose.REGIME, 0, (1000, N_STAT // 1000)).ravel()
    assert 0.0 <= u.min() and u.max() < 1.0
    assert_within(u.mean(), 0.5, math.sqrt(1.0 / 12.0 / u.size), "mean")
    # Var((U - 1/2)^2) = 1/80 - 1/144 = 1/180
    assert_within(u.var(ddof=1), 1.0 / 12.0, math.sqrt(1.0 / 180.0 / u.size), "variance")
    assert ks_distance(u, lambda v: v) * math.sqrt(u.size) < KS_CRIT


def test_exponentials_have_the_moments_and_ks_of_exp_1():
    e = core_fill("exponentials", 20240601, Purpose.EXIT_RACE, 0, (1000, N_STAT // 1000)).ravel()
    assert e.min() >= 0.0
    assert_within(e.mean(), 1.0, 1.0 / math.sqrt(e.size), "mean")
    # Var((E - 1)^2) = E[(E-1)^4] - 1 = 9 - 1 = 8
    assert_within(e.var(ddof=1), 1.0, math.sqrt(8.0 / e.size), "variance")
    assert ks_distance(e, lambda v: -np.expm1(-v)) * math.sqrt(e.size) < KS_CRIT


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_purposes_of_one_scenario_are_uncorrelated(normals):
    """Same seed and scenarios, another purpose: the pairs (x, y) have correlation ~ 0,
    standard error 1/sqrt(n)."""
    other = core_fill("normals", 20240601, Purpose.SUBURBS, 0, normals.shape)
    se = 1.0 / math.sqrt(normals.size)
    assert_within(correlation(normals, other), 0.0, se, "PRICES vs SUBURBS")
    u = core_fill("uniforms", 20240601, Purpose.EXIT_CAUSE, 0, normals.shape)
    assert_within(correlation(normals, u), 0.0, se, "PRICES vs EXIT_CAUSE uniforms")


def test_neighbouring_scenarios_and_draws_are_uncorrelated(normals):
    se_rows = 1.0 / math.sqrt(normals.size // 2)
    assert_within(correlation(normals[0::2], normals[1::2]), 0.0, se_rows, "scenario 2k vs 2k+1")
    se_lag = 1.0 / math.sqrt(normals[:, :-1].size)
    assert_within(correlation(normals[:, :-1], normals[:, 1:]), 0.0, se_lag, "draw t vs t+1")
    seed_next = core_fill("normals", 20240602, Purpose.PRICES, 0, normals.shape)
    assert_within(correlation(normals, seed_next), 0.0, 1.0 / math.sqrt(normals.size),
                  "seed vs seed + 1")
