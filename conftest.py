"""Root conftest: command-line options must be declared here, in the rootdir, so that
`pytest tests/ parity/`, `pytest parity/` and `pytest parity/test_x.py` all accept them. The raw
data fixture and the hypothesis profiles live here too, shared by tests/ and parity/.

Hypothesis runs the derandomized "ci" profile unless asked otherwise, so `make test` and a plain
`pytest` pass or fail the same way on every run. `TINYNN_HYPOTHESIS=dev pytest tests/` (or
`pytest --hypothesis-profile=dev`) draws fresh random examples each run, to hunt for new bugs.
"""

import os

import pytest
from hypothesis import settings

import tinynn

# deadline=None: the first call of a numba kernel compiles it, which no deadline should count.
settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True, database=None)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("TINYNN_HYPOTHESIS", "ci"))


def pytest_addoption(parser):
    parser.addoption(
        "--full", action="store_true", default=False,
        help="parity/: run the full-length checks (float64 trajectory over a whole epoch, "
             "the seed recipe for 30 epochs with 3 seeds in both frameworks). Slow.",
    )


@pytest.fixture(scope="session")
def fashion_uint8():
    """The real Fashion-MNIST as stored (uint8 pixels). Absent data fails, never skips."""
    try:
        data = tinynn.datasets.fashion_mnist.load_data()
    except FileNotFoundError as e:
        pytest.fail(f"Real Fashion-MNIST is required: `apt-get install -y dataset-fashion-mnist` "
                    f"(or `make test`, which installs it).\n{e}")
    for part in data:  # shared by every test of the session: none may change it in place
        for a in part:
            a.flags.writeable = False
    return data
