"""The compiled part of twin: the CityJSON walk (``twin/formats/_walk.pyx``, Cython).

Everything else about the package is in ``pyproject.toml``.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("twin.formats._walk", ["twin/formats/_walk.pyx"], extra_compile_args=["-O2"])],
        compiler_directives={"language_level": 3},
    )
)
