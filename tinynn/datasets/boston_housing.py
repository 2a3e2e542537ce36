"""Boston Housing: 506 suburbs of Boston in the 1970s, 13 attributes each, and the median value
of their homes in k$ (Harrison and Rubinfeld, via StatLib). Keras warns that one attribute, "B",
encodes an ethically problematic assumption about race; use the data to teach regression (as
"Deep Learning with Python", chapter 4, does) and that caveat with it.

`load_data()` returns `((x_train, y_train), (x_test, y_test))` exactly like
`keras.datasets.boston_housing.load_data()`: float64 arrays (404, 13), (404,), (102, 13), (102,)
with the defaults, read from the same file Keras reads, `boston_housing.npz`.

The file is looked for in `$TINYNN_DATA_DIR`, then in Keras's cache `~/.keras/datasets`
(`$KERAS_HOME/datasets`), and downloaded there from Keras's address otherwise. Verified before
use: at most `SIZE_LIMIT` bytes (the official file is about 57 kB; the cap is generous because
its exact size is not recorded here), Keras's SHA-256 on the bytes read, then its two members
`x` (2-D floats) and `y` (1-D floats, as many) read with pickling off.
"""

from pathlib import Path

import numpy as np

from tinynn.datasets import sequences, verified

NAME = "boston_housing.npz"
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"  # Keras's
SIZE_LIMIT = 1 << 20  # bytes: an upper bound, about 18 times the official file
UNZIPPED_LIMIT = 4 << 20  # bytes its members may declare in all
MIRRORS = verified.MIRRORS
WHAT = "Boston Housing"
FIX = ("Download it once with Keras (`python -c \"import keras; keras.datasets.boston_housing."
       "load_data()\"` puts it in Keras's cache, where tinynn looks), or put boston_housing.npz "
       f"(SHA-256 {SHA256}) in a folder and set TINYNN_DATA_DIR to it.")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read and verify the file: size, SHA-256, then members `x` (n, k) and `y` (n,), floats."""
    raw = verified.read_checked(path, SIZE_LIMIT, SHA256, "sha256", WHAT)
    arrays = verified.read_npz(path, raw, {
        "x": lambda archive, name: verified.numeric_member(archive, name, "f", 2),
        "y": lambda archive, name: verified.numeric_member(archive, name, "f", 1)}, WHAT,
        UNZIPPED_LIMIT)
    verified.same_length(path, arrays, [("x", "y")], WHAT)
    return arrays


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Load Boston Housing, shuffled, as `((x_train, y_train), (x_test, y_test))`, as Keras 3.

    The rows are put in the order of `np.random.RandomState(seed).shuffle(np.arange(n))`; the
    first `int(n * (1 - test_split))` are the training set, the rest the test set.

    Args:
        path: the file's name in `$TINYNN_DATA_DIR` or Keras's cache (no folder, as in Keras 3).
            Defaults to "boston_housing.npz".
        test_split: the fraction of the rows kept for testing, in [0, 1). Defaults to 0.2.
        seed: the shuffle's seed. Defaults to 113.

    Returns:
        float64 arrays: x_train (n_train, 13), y_train (n_train,), x_test (n_test, 13),
        y_test (n_test,); y is the median home value in k$. Each is a new array.

    Raises:
        ValueError: for a `test_split` outside [0, 1) (checked first, as Keras does), a bad
            `seed`, or a file that is not the official one.
        FileNotFoundError: listing every place tried, and how to get the file.
    """
    sequences.check_split(test_split, include_one=False)
    sequences.check_seed(seed)
    arrays = verified.find(path, NAME, read_npz, SIZE_LIMIT, WHAT, FIX, MIRRORS)
    x, y = sequences.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    n_train = int(len(x) * (1 - test_split))
    return ((np.array(x[:n_train]), np.array(y[:n_train])),
            (np.array(x[n_train:]), np.array(y[n_train:])))
