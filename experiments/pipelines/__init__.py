"""The library behind `capsim.api`: run, compare, sweep, sensitivity, calibrate, plan, report.

Nothing here imports the command line (`capsim.experiments.cli`) or the public API
(`capsim.api`): they import this (see tests/test_imports.py).
"""
