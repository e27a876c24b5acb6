"""Benchmarks of the generated library's kernels (run as scripts, see bench/kernels.py)."""
