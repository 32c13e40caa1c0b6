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


def vector_flags() -> list[str]:
    """Compiler flags that change speed, never a result.

    -fno-trapping-math lets the compiler turn a select between two computed values into a
    vector blend (FP exception flags are never read here); -ffp-contract=off keeps every
    multiply and add rounded on its own (no fused multiply-add), so results are the same bits
    as the numpy twins on any CPU. -mavx2 widens the vectorised loops (the ledger's month
    blocks) when the machine building the core has AVX2 -- the core is built where it runs
    (``pip install -e .``); set EQUIHOME_PORTABLE=1 to build one that runs on any x86-64.
    """
    if os.name == "nt":
        return []
    flags = ["-fno-trapping-math", "-ffp-contract=off"]
    if os.environ.get("EQUIHOME_PORTABLE") != "1" and platform.machine() in ("x86_64", "AMD64"):
        try:
            with open("/proc/cpuinfo") as f:
                if " avx2" in f.read():
                    flags.append("-mavx2")
        except OSError:  # not Linux: stay portable
            pass
    return flags


FLAGS = ["-O3", *vector_flags()]
SIMD = "avx2" if "-mavx2" in FLAGS else "baseline"  # _core.SIMD: what this build targets


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
