"""Datasets, named as in `keras.datasets`."""

from tinynn.datasets import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
