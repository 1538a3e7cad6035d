"""Benchmarks: each module is a command, run from the repository root, e.g. `python -m benchmarks.run_all`."""
