"""Detection and segmentation transfer benchmarks (a package, so that its conftest does not
shadow tests/conftest.py)."""
