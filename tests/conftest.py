"""Shared fixtures: the real Fashion-MNIST data (fails loudly when absent) and a loopback HTTP
mirror for the downloader. The hypothesis profiles are registered in the root conftest.py, for
tests/ and parity/ alike."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tinynn

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="session")
def fashion(fashion_uint8):
    """The real data as float32 in [0, 1] (loaded by the root conftest: absent data fails)."""
    (x, y), (xt, yt) = fashion_uint8
    return (x / np.float32(255), y), (xt / np.float32(255), yt)


@pytest.fixture(scope="session")
def load_example():
    """`load_example("fashion")`: examples/fashion.py as a module, without running its main()."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture
def float64():
    """Build weights in float64 inside the test, float32 again afterwards."""
    tinynn.config.set_floatx("float64")
    yield
    tinynn.config.set_floatx("float32")


class Mirror:
    """A dataset mirror on the loopback interface, served from a thread: `files` maps a path
    ("/name") to its bytes; `drip` (seconds) sends the body one byte at a time, that far apart,
    as a hostile or broken mirror might; `content_length` says whether the header is sent.
    `url` is the base address to put in `fashion_mnist.MIRRORS`."""

    def __init__(self):
        import http.server
        import threading

        mirror = self
        self.files: dict[str, bytes] = {}
        self.drip: float | None = None
        self.content_length = True
        self.stop = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                if mirror.content_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mirror.drip is None:
                    self.wfile.write(body)
                    return
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    if mirror.stop.wait(mirror.drip):
                        return

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror():
    """A loopback HTTP mirror (see `Mirror`), shut down after the test."""
    served = Mirror()
    yield served
    served.close()
