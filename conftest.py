"""Root conftest: command-line options must be declared here, in the rootdir, so that
`pytest tests/ parity/`, `pytest parity/` and `pytest parity/test_x.py` all accept them."""


def pytest_addoption(parser):
    parser.addoption(
        "--full", action="store_true", default=False,
        help="parity/: run the full-length checks (float64 trajectory over a whole epoch, "
             "the seed recipe for 30 epochs with 3 seeds in both frameworks). Slow.",
    )
