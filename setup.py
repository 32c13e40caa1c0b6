"""Build the Cython core ``equihome._core``; everything else lives in pyproject.toml."""

import os
import platform

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# Compiler directives are set once, here, for the whole core (as scikit-learn does).
DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "nonecheck": False,
    "embedsignature": True,
}

# numpy's C random library (the samplers of numpy.random.c_distributions, used on our own
# bitgen_t in _random.pxi), linked statically as numpy's "Extending via Cython" example does.
NPYRANDOM_DIR = os.path.join(os.path.dirname(np.__file__), "random", "lib")
LIBM = [] if os.name == "nt" else ["m"]  # its samplers call libm (log, exp, ...); MSVC has no libm


AVX512 = {"avx512f", "avx512vl", "avx512dq", "avx512bw"}  # the subsets -mavx512* names


def vector_flags() -> list[str]:
    """Compiler flags that change speed, never a result.

    -fno-trapping-math lets the compiler turn a select between two computed values into a
    vector blend (FP exception flags are never read here); -ffp-contract=off keeps every
    multiply and add rounded on its own (no fused multiply-add), so results are the same bits
    as the numpy twins on any CPU. -mavx2 widens the vectorised loops (the ledger's month
    blocks) when the machine building the core has AVX2; with AVX-512 (F, VL, DQ, BW) as well,
    the loops stay 256 bits wide but get its 32 vector registers (no spills in the month
    block), three-way logic ops (Philox rounds) and mask registers. The core is built where it
    runs (``pip install -e .``); set EQUIHOME_PORTABLE=1 to build one that runs on any x86-64.
    """
    if os.name == "nt":
        return []
    flags = ["-fno-trapping-math", "-ffp-contract=off"]
    if os.environ.get("EQUIHOME_PORTABLE") != "1" and platform.machine() in ("x86_64", "AMD64"):
        try:
            with open("/proc/cpuinfo") as f:
                cpu = set(next((line for line in f if line.startswith("flags")), "").split())
        except OSError:  # not Linux: stay portable
            cpu = set()
        if "avx2" in cpu:
            flags.append("-mavx2")
            if AVX512 <= cpu:
                flags += [f"-m{x}" for x in sorted(AVX512)] + ["-mprefer-vector-width=256"]
    return flags


FLAGS = ["-O3", *vector_flags()]
# _core.SIMD: what this build targets
SIMD = "avx512" if "-mavx512vl" in FLAGS else ("avx2" if "-mavx2" in FLAGS else "baseline")


extensions = [
    Extension(
        "equihome._core",
        ["equihome/_core.pyx"],  # with its _loans/_leverage/_ledger/_waterfall/_irr/_random/_draws.pxi parts
        include_dirs=[np.get_include()],
        library_dirs=[NPYRANDOM_DIR],
        libraries=["npyrandom", *LIBM],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("EQUIHOME_SIMD", f'"{SIMD}"')],
        extra_compile_args=FLAGS,
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES))
