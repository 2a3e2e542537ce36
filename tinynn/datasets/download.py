"""What every verified data set loader shares: where files are looked for, opening a file
without trusting its size, downloading with a total deadline and a byte limit, and renaming a
download into place only once it has been verified.

The data set modules (`fashion_mnist`, `mnist`) know their files' official sizes and
checksums; this module knows none, and is handed a `read(path)` that parses and verifies.
"""

import os
import stat
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")

# A download gets 30 s plus the time the official file takes at 64 kB/s, in total: a mirror
# that trickles is abandoned, whatever its pace.
DEADLINE_BASE = 30.0
SLOWEST_SPEED = 64 * 1024
READ_TIMEOUT = 30.0  # urllib's timeout: one read (or the connection) may take at most this


def keras_datasets_dir() -> Path:
    """Keras's download cache: `$KERAS_HOME/datasets`, by default `~/.keras/datasets`."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


def data_dir_override() -> list[Path]:
    """`[$TINYNN_DATA_DIR]` when that variable is set, else `[]`: always searched first."""
    return [Path(os.environ["TINYNN_DATA_DIR"])] if os.environ.get("TINYNN_DATA_DIR") else []


def open_regular(path: Path, limit: int, what: str, official: str) -> BinaryIO:
    """Open `path` for reading, refusing what is not a regular file or is over `limit` bytes.

    Args:
        path: the file.
        limit: the most bytes accepted.
        what: the data set's name, for the messages ("MNIST").
        official: the official file's size in words, for the message ("11,490,434 bytes").

    Returns:
        The open binary file (a FIFO is refused instead of blocking: it is opened non-blocking).

    Raises:
        ValueError: naming the file, when it is not a regular file or is larger than `limit`.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    f = open(fd, "rb")
    info = os.fstat(f.fileno())
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = f"{what} file {path} is not a regular file."
    elif info.st_size > limit:
        problem = (f"{what} file {path} is {info.st_size:,} bytes; the official {path.name} is "
                   f"{official}. It is not the official file: delete it and load again.")
    if problem:
        f.close()
        raise ValueError(problem)
    return f


def fetch(url: str, limit: int, deadline: float) -> bytes:
    """The bytes at `url`: at most `limit` of them, all received within `deadline` seconds.

    urllib's timeout bounds each read, not the whole transfer, so the transfer runs in a helper
    thread and this one waits for it at most `deadline` seconds. On time-out the helper is told
    to stop; it does so after its current read (at most READ_TIMEOUT later), keeping nothing.

    Raises:
        TimeoutError: (an OSError) past the deadline.
        ValueError: for more than `limit` bytes, declared or sent.
        OSError: for any other failure of the transfer.
    """
    result: dict = {}
    cancel = threading.Event()

    def transfer():
        try:
            with urllib.request.urlopen(url, timeout=min(READ_TIMEOUT, deadline)) as response:
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise ValueError(f"{url} is {int(declared):,} bytes, more than the "
                                     f"{limit:,} allowed for this file")
                chunks, received = [], 0
                while not cancel.is_set():
                    chunk = response.read1(1 << 16)  # one system call: never waits for more
                    if not chunk:
                        result["data"] = b"".join(chunks)
                        return
                    received += len(chunk)
                    if received > limit:
                        raise ValueError(f"{url} sent more than the {limit:,} bytes allowed "
                                         "for this file")
                    chunks.append(chunk)
        except Exception as e:  # handed to the waiting thread
            result["error"] = e

    helper = threading.Thread(target=transfer, name=f"tinynn download {url}", daemon=True)
    helper.start()
    helper.join(deadline)
    if helper.is_alive():
        cancel.set()
        raise TimeoutError(f"{url} did not arrive within the {deadline:.3g} s allowed")
    error = result.get("error")
    if isinstance(error, (OSError, ValueError)):
        raise error
    if error is not None:  # http.client's own errors (IncompleteRead, BadStatusLine, ...)
        raise OSError(f"{url}: {type(error).__name__}: {error}") from error
    return result["data"]


def download(name: str, folder: Path, mirrors: list[str], limit: int, deadline: float,
             read: Callable[[Path], T], tried: list[str],
             source: "str | None" = None) -> "T | None":
    """Download `name` from the first mirror that gives a verified copy, into `folder`.

    Each copy is written to a temporary name in `folder`, fsynced, passed to `read` (which
    parses and verifies, raising ValueError), and only then renamed to `folder / name`.

    Args:
        name: the file name, appended to each mirror's address.
        folder: where the verified file goes (created if absent).
        mirrors: base addresses ending in "/", tried in order.
        limit: the most bytes accepted from a mirror.
        deadline: seconds allowed for each mirror's whole transfer.
        read: `read(path)` -> the data, or ValueError.
        tried: each failure is appended here as "where: why".
        source: the file's name at the mirrors, when it is saved under another `name` (as
            `keras.datasets.imdb.load_data(path="my.npz")` saves imdb.npz). Defaults to `name`.

    Returns:
        `read`'s result for the first good copy, or None when every mirror failed.
    """
    for mirror in mirrors:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        except OSError as e:
            tried.append(f"{folder}: cannot write there ({e})")
            return None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(fetch(mirror + (source or name), limit, deadline))
                out.flush()
                os.fsync(out.fileno())
            data = read(Path(tmp))
            os.replace(tmp, folder / name)
            return data
        except (OSError, ValueError) as e:
            tried.append(f"{mirror}{source or name}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return None


def find_or_download(name: str, dirs: list[Path], read: Callable[[Path], T],
                     get: Callable[[list[str]], "T | None"], tried: list[str], what: str,
                     fix: str) -> T:
    """The data of `name`: from the first of `dirs` holding it, else from `get(tried)`.

    A file that is found but fails `read` is an error, not something to skip.

    Raises:
        FileNotFoundError: listing every place tried, then `fix`, when no copy was had.
    """
    for folder in dirs:
        path = folder / name
        if path.is_file():
            return read(path)
        tried.append(f"{path}: not found")
    data = get(tried)
    if data is None:
        raise FileNotFoundError(
            f"Could not find or download the {what} file {name}. Tried:\n  - "
            + "\n  - ".join(tried) + f"\n{fix}")
    return data
