"""Benchmarks of tenant provisioning and migration runs; see each module's docstring."""
