"""Benchmarks of courier-crm (run them with `python -m bench.<name>`; see bench/README.md)."""
