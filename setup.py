"""Build the Cython core ``equihome._core``; everything else lives in pyproject.toml."""

import os

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

extensions = [
    Extension(
        "equihome._core",
        ["equihome/_core.pyx"],  # with its _loans/_leverage/_ledger/_waterfall/_irr/_random/_draws.pxi parts
        include_dirs=[np.get_include()],
        library_dirs=[NPYRANDOM_DIR],
        libraries=["npyrandom", *LIBM],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES))
