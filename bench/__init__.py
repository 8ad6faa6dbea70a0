"""Benchmarks: run on demand, print JSON."""
