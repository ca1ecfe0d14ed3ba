"""Analyses of a twin: pure functions, model in, plain data out (DESIGN.md §1).

The API, the viewer and the notebooks call these same functions.
"""
