"""Backprop exercises, graded by tinynn itself: fill a file, then `pytest exercises/ -k <name>`.

See exercises/README.md for the order and what each grade checks.
"""
