"""Datasets, named as in `keras.datasets`."""

from tinynn.datasets import boston_housing, fashion_mnist, imdb, mnist, reuters

__all__ = ["boston_housing", "fashion_mnist", "imdb", "mnist", "reuters"]
