"""Save and load whole models: one file, written atomically, loaded without running any code.

The file is a NumPy `.npz` (a zip of `.npy` arrays, no pickle) holding:

- `header`: the UTF-8 bytes of a JSON document: format and version, the architecture (for each
  layer its Keras class name and `get_config()`), the weights' dtype, the compile settings
  (optimizer class and hyperparameters, loss, metric names), optionally the training state
  (optimizer iterations, the names of its slot arrays, the random generators' states), and for
  every array its role, shape, dtype and SHA-256;
- `weight_0, weight_1, ...`: the parameters in Keras's order (per layer: kernel, then bias);
- `optimizer_0, ...`: the optimizer's per-parameter state (Adam's moments, RMSprop's averages,
  SGD's velocities).

Writing goes to a temporary file in the target's folder, which is flushed, fsynced and renamed
over the target only when complete, so a crash or Ctrl-C never leaves a half-written file nor
destroys the previous one. Loading uses `np.load(allow_pickle=False)`, rebuilds layers only from
the explicit allowlist `LAYER_CLASSES`, and checks every array against its SHA-256 in the header,
so a truncated, edited or foreign file is refused with an error naming the file and the array.
The checksums detect accidents (truncation, bit rot, a stray edit), not a determined forger.
"""

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from tinynn import config, losses, optimizers, utils
from tinynn.layers import Activation, Dense, Dropout, Flatten, ReLU, Softmax

FORMAT, VERSION = "tinynn-model", 1
LAYER_CLASSES = {cls.__name__: cls for cls in (Dense, Dropout, Flatten, Activation, ReLU, Softmax)}
# optimizer class -> (constructor arguments, per-parameter state lists)
OPTIMIZER_CLASSES = {
    "Adam": (optimizers.Adam, ("learning_rate", "beta_1", "beta_2", "epsilon"),
             ("momentums", "velocities")),
    "RMSprop": (optimizers.RMSprop, ("learning_rate", "rho", "momentum", "epsilon", "centered"),
                ("velocities", "average_gradients", "momentums")),
    "SGD": (optimizers.SGD, ("learning_rate", "momentum", "nesterov"), ("velocities",)),
}
FLOAT_DTYPES = ("<f4", "<f8")


# ----- atomic writing -------------------------------------------------------------------------

def _new_file_mode(path: str) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0o666 minus the umask."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: "str | os.PathLike", write: Callable[[BinaryIO], None]) -> None:
    """Write a file all-or-nothing: `write(f)` fills a temporary file in the same folder, which
    is flushed, fsynced and then renamed over `path`. On any error (Ctrl-C included) the
    temporary file is removed and `path` is left exactly as it was.
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {path}: the folder {folder} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


# ----- saving ---------------------------------------------------------------------------------

def _architecture(model) -> dict:
    specs = []
    for layer in model.layers:
        cls = type(layer)
        if LAYER_CLASSES.get(cls.__name__) is not cls:
            raise ValueError(
                f"Cannot save model '{model.name}': layer '{layer.name}' is a {cls.__name__}, and "
                f"a model file can only hold tinynn's own layers ({', '.join(LAYER_CLASSES)})."
            )
        specs.append({"class_name": cls.__name__, "config": layer.get_config()})
    return {"class_name": "Sequential", "name": model.name,
            "input_shape": [int(d) for d in model.input_shape[1:]], "layers": specs}


def _compile_config(model) -> "dict | None":
    if model.loss is None:
        return None
    opt = model.optimizer
    name = type(opt).__name__
    if OPTIMIZER_CLASSES.get(name, (None,))[0] is not type(opt):
        raise ValueError(f"Cannot save the optimizer {name}: a model file can hold "
                         f"{', '.join(OPTIMIZER_CLASSES)}. Use include_optimizer=False.")
    return {
        "optimizer": {"class_name": name,
                      "config": {k: getattr(opt, k) for k in OPTIMIZER_CLASSES[name][1]}},
        "loss": {"class_name": type(model.loss).__name__,
                 "config": {"from_logits": model.loss.from_logits, "name": model.loss.name}},
        "metrics": list(model.metrics_names[1:]),
    }


def save_model(model, filepath: "str | os.PathLike", overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Save architecture, weights and (optionally) the training state to one file, atomically.

    Args:
        model: a built `Sequential` of tinynn layers.
        filepath: the file to write, used exactly as given (e.g. "model.npz").
        overwrite: replace an existing file. Defaults to True.
        include_optimizer: also save the compile settings' state needed to resume training
            exactly: the optimizer's iterations and moments, and the random generators (tinynn's
            global one, which shuffles, and each Dropout's). Defaults to True.
    """
    if not model.built:
        raise ValueError(f"Cannot save model '{model.name}': it is not built yet (call it on "
                         "data or start it with an Input).")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    arrays, entries = {}, []

    def add(prefix: str, role: str, a: np.ndarray, **where) -> str:
        key = f"{prefix}_{sum(e['role'] == role for e in entries)}"
        arrays[key] = a
        entries.append({"key": key, "role": role, **where, "shape": list(a.shape),
                        "dtype": a.dtype.str, "sha256": _sha256(a)})
        return key

    for layer in model.layers:
        for name, p in layer.params.items():
            add("weight", "weight", p, layer=layer.name, name=name)
    header = {"format": FORMAT, "version": VERSION, "model": _architecture(model),
              "dtype": config.floatx() if not model.weights else model.weights[0].dtype.name,
              "compile": _compile_config(model), "training_state": None}
    opt = model.optimizer
    if include_optimizer and header["compile"] is not None:
        slots = {}
        if getattr(opt, "_shapes", None) is not None:
            for slot in OPTIMIZER_CLASSES[type(opt).__name__][2]:
                slots[slot] = [add("optimizer", "optimizer", a, slot=slot)
                               for a in getattr(opt, slot)]
        header["training_state"] = {
            "iterations": int(opt.iterations), "slots": slots,
            "rng": {"global": utils.rng().bit_generator.state,
                    "layers": {layer.name: layer._rng.bit_generator.state
                               for layer in model.layers if isinstance(layer, Dropout)}},
        }
    header["arrays"] = entries
    blob = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    atomic_write(filepath, lambda f: np.savez(f, header=blob, **arrays))


# ----- loading --------------------------------------------------------------------------------

class _Reader:
    """Reads and verifies one model file; every error names the file."""

    def __init__(self, path: str, npz):
        self.path, self.npz = path, npz

    def error(self, message: str) -> ValueError:
        return ValueError(f"Cannot load model file {self.path}: {message}")

    def member(self, key: str, what: str) -> np.ndarray:
        try:
            return self.npz[key]
        except KeyError:
            raise self.error(f"{what} ('{key}') is missing: the file is truncated or was "
                             "edited.") from None
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise self.error(f"{what} ('{key}') holds Python objects (dtype=object). Loading "
                                 "it would need pickle, which can run arbitrary code: refused."
                                 ) from None
            raise self.error(f"{what} ('{key}') cannot be read: {e}") from e
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise self.error(f"{what} ('{key}') is damaged ({e}): the file is truncated or "
                             "corrupt.") from e

    def header(self) -> dict:
        raw = self.member("header", "the header")
        try:
            header = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise self.error(f"the header is not valid JSON ({e}).") from e
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self.error("it is not a tinynn model file (no tinynn header).")
        if header.get("version") != VERSION:
            raise self.error(f"format version {header.get('version')!r} is not supported; this "
                             f"tinynn reads version {VERSION}.")
        if header.get("dtype") not in ("float32", "float64"):
            raise self.error(f"unsupported weight dtype {header.get('dtype')!r}.")
        return header

    def arrays(self, entries: list) -> dict[str, np.ndarray]:
        """Every listed array, verified against its shape, dtype and SHA-256."""
        out = {}
        for e in entries:
            what = (f"weight '{e['layer']}/{e['name']}'" if e["role"] == "weight"
                    else f"optimizer state '{e['slot']}'")
            a = self.member(e["key"], what)
            if a.dtype.str not in FLOAT_DTYPES or a.dtype.str != e["dtype"]:
                raise self.error(f"{what} ('{e['key']}') has dtype {a.dtype}, expected "
                                 f"{np.dtype(e['dtype'])}.")
            if list(a.shape) != e["shape"]:
                raise self.error(f"{what} ('{e['key']}') has shape {a.shape}, the header says "
                                 f"{tuple(e['shape'])}: the file was edited.")
            if _sha256(a) != e["sha256"]:
                raise self.error(f"{what} ('{e['key']}') fails its SHA-256 check: the file is "
                                 "corrupt or was edited.")
            out[e["key"]] = a
        extra = sorted(set(self.npz.files) - set(out) - {"header"})
        if extra:
            raise self.error(f"it holds arrays not listed in its header ({', '.join(extra)}): "
                             "the file was edited.")
        return out


@contextlib.contextmanager
def _floatx(dtype: str) -> Iterator[None]:
    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        yield
    finally:
        config.set_floatx(previous)


def _build(reader: _Reader, arch: dict, dtype: str):
    from tinynn.models import Sequential  # models imports this module

    built = []
    for i, spec in enumerate(arch["layers"]):
        cls = LAYER_CLASSES.get(spec.get("class_name")) if isinstance(spec, dict) else None
        if cls is None:
            name = spec.get("class_name") if isinstance(spec, dict) else spec
            raise reader.error(f"layer {i} has unknown type {name!r}. tinynn only loads its own "
                               f"layers: {', '.join(LAYER_CLASSES)}.")
        cfg = spec.get("config")
        if not isinstance(cfg, dict):
            raise reader.error(f"layer {i} ({cls.__name__}) has no config.")
        try:
            built.append(cls(**cfg))
        except (TypeError, ValueError) as e:
            raise reader.error(f"layer {i} ({cls.__name__}) has an invalid config {cfg}: {e}"
                               ) from e
    shape = arch["input_shape"]
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise reader.error(f"invalid input_shape {shape!r}.")
    model = Sequential(built, name=str(arch["name"]))
    try:
        with _floatx(dtype):
            model.build((None, *shape))
    except ValueError as e:
        raise reader.error(f"the architecture does not build: {e}") from e
    return model


def _restore_training_state(reader: _Reader, model, state: dict, arrays: dict,
                            restore_random_state: bool) -> None:
    opt = model.optimizer
    opt.iterations = int(state["iterations"])
    if state["slots"]:
        opt.build(model._optimizer_variables()[0])
    for slot, keys in state["slots"].items():
        if slot not in OPTIMIZER_CLASSES[type(opt).__name__][2]:
            raise reader.error(f"unknown optimizer state {slot!r} for {type(opt).__name__}.")
        own = getattr(opt, slot)
        if len(keys) != len(own) or any(arrays[k].shape != o.shape
                                        for k, o in zip(keys, own, strict=False)):
            raise reader.error(f"optimizer state {slot!r} does not match the weights.")
        for key, o in zip(keys, own, strict=True):
            o[...] = arrays[key]
    generators = [(layer._rng, state["rng"]["layers"].get(layer.name), f"layer '{layer.name}'")
                  for layer in model.layers if isinstance(layer, Dropout)]
    if restore_random_state:
        generators.append((utils.rng(), state["rng"]["global"], "the global generator"))
    for rng, saved, what in generators:
        if saved is None:
            raise reader.error(f"no random state saved for {what}.")
        try:
            rng.bit_generator.state = saved
        except (TypeError, ValueError, KeyError) as e:
            raise reader.error(f"invalid random state for {what}: {e}") from e


def load_model(filepath: "str | os.PathLike", compile: bool = True,
               restore_random_state: bool = True):
    """Load a model saved by `model.save`, verifying every array; never runs code from the file.

    Args:
        filepath: the file written by `model.save` / `save_model`.
        compile: compile the model with the saved optimizer, loss and metrics, and restore the
            optimizer state when the file has one. Defaults to True.
        restore_random_state: when the file holds a training state, also set tinynn's global
            random generator (which `fit` shuffles with) back to its state at saving time, so
            that `fit(..., initial_epoch=k)` continues exactly like the uninterrupted run. The
            Dropout layers' own generators are always restored with the state. Defaults to True.

    Returns:
        A `Sequential` whose predictions are bit-identical to the saved model's.
    """
    path = os.fspath(filepath)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"Cannot load model file {path}: it is truncated or is not a tinynn "
                         f"model file ({e}).") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"Cannot load model file {path}: it is a single .npy array, not a "
                         "tinynn model file.")
    with npz:
        reader = _Reader(path, npz)
        header = reader.header()
        try:
            arrays = reader.arrays(header["arrays"])
            model = _build(reader, header["model"], header["dtype"])
            weights = [arrays[e["key"]] for e in header["arrays"] if e["role"] == "weight"]
            try:
                model.set_weights(weights)
            except ValueError as e:
                raise reader.error(f"the weights do not fit the architecture: {e}") from e
            if compile and header["compile"] is not None:
                _compile(reader, model, header["compile"])
                if header["training_state"] is not None:
                    _restore_training_state(reader, model, header["training_state"], arrays,
                                            restore_random_state)
        except (KeyError, TypeError, AttributeError) as e:
            raise reader.error(f"its header is malformed ({type(e).__name__}: {e}).") from e
    return model


def _compile(reader: _Reader, model, cfg: dict) -> None:
    name = cfg["optimizer"]["class_name"]
    if name not in OPTIMIZER_CLASSES:
        raise reader.error(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZER_CLASSES)}.")
    cls, allowed, _ = OPTIMIZER_CLASSES[name]
    opt_cfg = cfg["optimizer"]["config"]
    if cfg["loss"]["class_name"] != "SparseCategoricalCrossentropy" or set(opt_cfg) - set(allowed):
        raise reader.error(f"unsupported compile settings {cfg}.")
    try:
        model.compile(optimizer=cls(**opt_cfg),
                      loss=losses.SparseCategoricalCrossentropy(**cfg["loss"]["config"]),
                      metrics=list(cfg["metrics"]))
    except ValueError as e:
        raise reader.error(f"invalid compile settings: {e}") from e
