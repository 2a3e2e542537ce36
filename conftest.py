"""Root conftest: command-line options must be declared here, in the rootdir, so that
`pytest tests/ parity/`, `pytest parity/` and `pytest parity/test_x.py` all accept them. The raw
data fixture lives here too, shared by tests/ and parity/ (each scales it as it needs)."""

import pytest

import tinynn


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
        return tinynn.datasets.fashion_mnist.load_data()
    except FileNotFoundError as e:
        pytest.fail(f"Real Fashion-MNIST is required: `apt-get install -y dataset-fashion-mnist` "
                    f"(or `make test`, which installs it).\n{e}")
