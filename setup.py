"""The compiled part of twin: the CityJSON walk and minifier (``twin/formats/_walk.pyx``,
Cython, with ``twin/formats/_minify.h``, C).

Everything else about the package is in ``pyproject.toml``.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                "twin.formats._walk",
                ["twin/formats/_walk.pyx"],
                depends=["twin/formats/_minify.h"],
                extra_compile_args=["-O2"],
            )
        ],
        compiler_directives={"language_level": 3},
    )
)
