"""Benchmarks on the local stack: run on demand, JSON results in `bench/results/`."""
