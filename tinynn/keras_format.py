"""Keras 3's own files, written and read by tinynn: `.keras` archives and `.weights.h5` weights.

A `.keras` file is a zip archive (members stored uncompressed, as Keras writes them) of
- `metadata.json`: {"keras_version", "date_saved"};
- `config.json`: the model in Keras's JSON schema (`tinynn.keras_config`, its compile settings
  `tinynn.keras_compile`);
- `model.weights.h5`: the state, an HDF5 file laid out as Keras's `H5IOStore` lays it out:

      vars                          the model's own weights (none); attribute name = model name
      layers/<key>/vars/0, 1, ...   one group per layer, in layer order; <key> is Keras's snake_case
                                    class name numbered per class (dense, dense_1, re_lu, ...), NOT
                                    the layer's name (that is the attribute `name` of `vars`);
                                    datasets in the layer's weight order (trainable ones first)
      optimizer/vars/0, 1, ...      0 = iterations (int64), 1 = learning rate (the float type),
                                    then the slots in the order Keras creates them
                                    (`optimizer_layout`); only 0 and 1 before the first step

A `.weights.h5` file (`model.save_weights`) is that HDF5 file alone, optimizer included, as Keras
writes it. Writing is atomic (`io.atomic_write`). Reading allocates nothing the architecture does
not imply: zip members are checked against a size cap before they are inflated (config.json:
16 MiB; the weights: what the built model's weights and optimizer state can occupy), every HDF5
dataset's shape and dtype are checked against the model's before it is read, and links,
external and virtual datasets are refused. Every error is a ValueError naming the file.
"""

import contextlib
import datetime
import io as _io
import json
import os
import struct
import warnings
import zipfile
import zlib

import numpy as np

from tinynn import config, io, keras_compile, keras_config
from tinynn.archive import DAMAGE, ModelFileError, open_regular
from tinynn.layers import checking_weights, snake_case
from tinynn.optimizers.schedules import LearningRateSchedule

KERAS_VERSION = "3.15.1"  # the Keras whose files these are (parity/test_keras_files.py checks)
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_CONFIG_LIMIT = 16 << 20


def _h5py():
    """h5py, imported when a Keras file is used (it is a dependency; importing it costs ~70 ms)."""
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a declared dependency
        raise ImportError("Keras's .keras and .weights.h5 files need h5py: pip install h5py"
                          ) from e
    return h5py


def _error(path, message: str) -> ValueError:
    return ModelFileError(f"Cannot load model file {path}: {message}")


def _dtype(model) -> str:
    weights = model.weights
    return weights[0].dtype.name if weights else config.floatx()


# ----- the layout ------------------------------------------------------------------------------

def layer_keys(model) -> list[str]:
    """Each layer's group under `layers/`: Keras's snake_case class name, numbered per class."""
    seen: dict[str, int] = {}
    keys = []
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        seen[base] = seen.get(base, -1) + 1
        keys.append(base if seen[base] == 0 else f"{base}_{seen[base]}")
    return keys


def optimizer_layout(opt) -> list[tuple[str, ...]]:
    """tinynn's slot names, grouped as Keras creates its optimizer variables: one group per
    `add_optimizer_variables` call, which interleaves the group's slots variable by variable
    (Adam: m0, v0, m1, v1, ...; RMSprop: all velocities, then momentums, then averages).
    Keras creates SGD's momentums only when momentum != 0, RMSprop's momentums only when
    momentum > 0 and its average gradients only when centered."""
    kind = type(opt).__name__
    if kind == "SGD":
        return [("velocities",)] if opt.momentum != 0 else []
    if kind == "RMSprop":
        return [("velocities",), *([("momentums",)] if opt.momentum > 0 else []),
                *([("average_gradients",)] if opt.centered else [])]
    return [tuple(opt.slot_names)] if opt.slot_names else []


def optimizer_variables(model) -> list[np.ndarray]:
    """What Keras's `optimizer.variables` would hold for this model's optimizer, in its order:
    iterations, learning rate, then the slots (only after the first step)."""
    opt = model.optimizer
    arrays = [np.asarray(opt._iterations, np.int64), np.asarray(opt.learning_rate, _dtype(model))]
    if opt.built:
        slots, n = opt.slots(), len(model.trainable_weights)
        arrays += [slots[slot][i] for group in optimizer_layout(opt)
                   for i in range(n) for slot in group]
        arrays += [a for name in opt.state_names for a in slots[name]]  # Nadam's u_product
    return arrays


def _state_bytes(model, include_optimizer: bool = True) -> bytes:
    """The HDF5 file of the model's weights (and optimizer variables), as Keras writes it."""
    buffer = _io.BytesIO()
    with _h5py().File(buffer, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        for key, layer in zip(layer_keys(model), model.layers, strict=True):
            group = f.create_group(f"layers/{key}/vars")
            group.attrs["name"] = layer.name
            for i, w in enumerate(layer.weights):
                group.create_dataset(str(i), data=w)
        if include_optimizer and model.optimizer is not None:
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = model.optimizer.name
            for i, a in enumerate(optimizer_variables(model)):
                group.create_dataset(str(i), data=a)
    return buffer.getvalue()


# ----- writing ---------------------------------------------------------------------------------

def to_json(model) -> str:
    """The model's `config.json` (architecture and compile arguments, no weights), as Keras's
    `model.to_json()` gives it."""
    spec = keras_config.model_to_keras(model, _dtype(model))
    spec["compile_config"] = keras_compile.compile_to_keras(model, _dtype(model))
    return json.dumps(spec, allow_nan=False)


def model_from_json(text: str, custom_objects=None):
    """A new model (freshly initialized weights) from `to_json`'s text or Keras's, compiled
    when the text holds a compile config, as `keras.models.model_from_json`."""
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"model_from_json expected a JSON string, got {type(text).__name__}.")
    if len(text) > _CONFIG_LIMIT:
        raise ValueError(f"model_from_json: the text is {len(text):,} characters, more than "
                         f"a model config may hold ({_CONFIG_LIMIT:,}).")
    try:
        spec = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"model_from_json: the text is not JSON ({e}).") from None
    if not isinstance(spec, dict):
        raise ValueError("model_from_json: the JSON is not a model config.")
    with config.floatx_scope(keras_config.model_dtype(spec)):
        model, shape = keras_config.model_from_keras(spec, custom_objects)
        model.build((None, *shape))
    if spec.get("compile_config"):
        keras_compile.compile_from_keras(model, spec["compile_config"], custom_objects)
    return model


def save_model(model, filepath, include_optimizer: bool = True, overwrite: bool = True) -> None:
    """Write `model` as a `.keras` archive that `keras.models.load_model` opens."""
    try:
        config_json = to_json(model)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Cannot save model '{model.name}' to {filepath}: {e}") from e
    metadata = json.dumps({"keras_version": KERAS_VERSION, "date_saved":
                           datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    state = _state_bytes(model, include_optimizer)

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:  # ZIP_STORED, as Keras
            zf.writestr(METADATA, metadata)
            zf.writestr(CONFIG, config_json)
            zf.writestr(WEIGHTS, state)

    io.atomic_write(filepath, write, overwrite)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write the `.weights.h5` file Keras's `model.save_weights` writes."""
    state = _state_bytes(model)
    io.atomic_write(filepath, lambda f: f.write(state), overwrite)


# ----- reading ---------------------------------------------------------------------------------

def zip_names(file) -> "list[str] | None":
    """The member names of the zip archive `file` (an open file, read from its start), or None
    if it is not a readable zip. The format is told from the file already open (and checked to
    be a regular file), never by opening the path again: a FIFO swapped in meanwhile would
    block."""
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as zf:
            return zf.namelist()
    except DAMAGE:  # OSError, BadZipFile, NotImplementedError (zip version), ...
        return None
    finally:
        file.seek(0)


def _member(zf, name: str, limit: int, path) -> bytes:
    """One member of the archive, its declared size checked before inflating, read capped."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise _error(path, f"the archive has no {name}: it is not a .keras model file, or it is "
                           "damaged.") from None
    if info.file_size > limit:
        raise _error(path, f"{name} declares {info.file_size:,} bytes, more than the "
                           f"{limit:,} this model can need: refused before inflating it.")
    try:
        with zf.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as e:
        raise _error(path, f"{name} is damaged ({e}): the file is truncated or corrupt.") from e
    if len(data) != info.file_size:
        raise _error(path, f"{name} holds {len(data):,} bytes, its header says "
                           f"{info.file_size:,}: the file is corrupt.")
    return data


def _state_limit(model) -> int:
    """The most bytes a model.weights.h5 for this model's architecture can sensibly hold: each
    weight in float64 and up to 5 optimizer arrays per weight (the most a Keras optimizer keeps:
    Adam with amsgrad, EMA and gradient accumulation), plus 16 KiB of HDF5 bookkeeping per group
    or array. It depends on the architecture only, not on this model's own optimizer: a file
    written by a compiled model can be loaded into an uncompiled one."""
    n_values = sum(w.size for w in model.weights)
    n_objects = 8 + 2 * len(model.layers) + 6 * len(model.weights)
    return 6 * 8 * n_values + (16 << 10) * n_objects + (1 << 20)


@contextlib.contextmanager
def _open_zip(path):
    """(the archive, the file it is read from), the file a regular one opened without blocking
    (`archive.open_regular`: a FIFO is refused, not waited on); both closed after the block."""
    with open_regular(path) as file:  # FileNotFoundError, PermissionError: they name the file
        try:
            zf = zipfile.ZipFile(file)
        except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
            raise _error(path, f"it is not a .keras archive (a zip file), or it is truncated "
                               f"({e}).") from e
        with zf:
            yield zf, file


class _Window(_io.RawIOBase):
    """A stored (uncompressed) zip member read in place, seekable, nothing buffered: HDF5
    reads the metadata it needs from it without the member being read whole."""

    def __init__(self, file, start: int, size: int):
        self.fd, self.start, self.size, self.pos = file.fileno(), start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, offset + (0, self.pos, self.size)[whence])
        return self.pos

    def readinto(self, b) -> int:
        n = max(0, min(len(b), self.size - self.pos))
        data = os.pread(self.fd, n, self.start + self.pos) if n else b""
        b[:len(data)] = data
        self.pos += len(data)
        return len(data)


def _member_in_place(zf, file, info, path):
    """The member `info` opened for seeking without inflating or reading it whole: a window
    on the file for a stored member (as Keras writes them), else zipfile's seekable reader."""
    if info.compress_type != zipfile.ZIP_STORED:
        return zf.open(info)
    head = os.pread(file.fileno(), 30, info.header_offset)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise _error(path, f"{info.filename}'s local header is damaged: the file is corrupt.")
    name_length, extra_length = struct.unpack("<HH", head[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    if start + info.file_size > os.fstat(file.fileno()).st_size:
        raise _error(path, f"{info.filename} declares {info.file_size:,} bytes, past the end of "
                           "the file: it is truncated.")
    return _Window(file, start, info.file_size)


def _weight_check(f, keys: dict, member_size: int, path):
    """For `layers.checking_weights` while the model is built from config.json: each weight a
    layer declares must be one of the datasets of that layer's group `layers/<key>/vars` in
    `f` (opened in place: only its metadata is read), with its shape and dtype kind, and its
    data must be in the file: the datasets claimed hold together at most the member's bytes
    (a compressed HDF5 dataset may inflate 100 times). `keys` maps each layer (by id) to its
    group once the layers exist; a weight of any other layer (a nested model's) is refused.
    Datasets are matched by shape, not position: the weights are created in the layer's order
    of creation, the file holds them trainable first; `_read_layers` checks the order later."""
    h5py = _h5py()
    unclaimed: dict[str, list] = {}
    total = [0]

    def check(layer, name, shape, dtype):
        wanted = f"weight '{layer.name}/{name}' of shape {tuple(shape)} ({dtype})"
        key = keys.get(id(layer))
        if key is None:
            raise _error(path, f"{CONFIG} declares the {wanted} in a layer that is not one of "
                               "the model's own (tinynn reads no nested models from Keras "
                               "files): refused before allocating it.")
        where = f"layers/{key}/vars"
        if key not in unclaimed:
            layers = _child(f, "layers", h5py.Group, path, "layers")
            group = _child(_child(layers, key, h5py.Group, path, f"layers/{key}"), "vars",
                           h5py.Group, path, where)
            unclaimed[key] = sorted(group.keys()) if group is not None else []
        held = []
        for i in unclaimed[key]:
            ds = _child(f[where], i, h5py.Dataset, path, f"{where}/{i}")
            if ds is not None and ds.shape == tuple(shape) and ds.dtype.kind == dtype.kind:
                break
            held.append(f"{i}: {ds.shape} {ds.dtype}" if ds is not None else i)
        else:
            raise _error(path, f"the weights do not fit {CONFIG}: it declares the {wanted}; "
                               f"{where} holds {', '.join(held[:6]) or 'no other'}: refused "
                               "before allocating it.")
        unclaimed[key].remove(i)
        if ds.external or ds.is_virtual:
            raise _error(path, f"{where}/{i} is an external or virtual dataset, which is "
                               "refused.")
        stored, needed = ds.id.get_storage_size(), ds.dtype.itemsize * int(np.prod(shape))
        total[0] += stored
        if 100 * stored < needed or total[0] > member_size:
            raise _error(path, f"{where}/{i} declares {needed:,} bytes for the {wanted}, of "
                               f"which the file holds {min(stored, member_size):,}: refused "
                               "before allocating it.")
    return check


def _open_h5(source, path):
    try:
        return _h5py().File(source, "r")
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise _error(path, f"the weights are not a readable HDF5 file ({e}): the file is "
                           "truncated, corrupt or not Keras's.") from e


def _child(parent, name: str, kind, path, where: str):
    """`parent[name]` if it exists, is a hard link and is of `kind` (Group/Dataset); else None
    when absent. Soft and external links are refused: they point outside the file."""
    h5py = _h5py()
    if parent is None or name not in parent:
        return None
    link = parent.get(name, getlink=True)
    if not isinstance(link, h5py.HardLink):
        raise _error(path, f"{where} is a {type(link).__name__}, which is refused (it points "
                           "outside the file).")
    obj = parent[name]
    if not isinstance(obj, kind):
        raise _error(path, f"{where} is not an HDF5 {kind.__name__}.")
    return obj


def _read(group, name: str, shape: tuple, kinds: str, path, where: str) -> np.ndarray:
    """Dataset `name` of `group`, checked against the shape and dtype kinds expected BEFORE
    it is read."""
    ds = _child(group, name, _h5py().Dataset, path, where)
    if ds is None:
        raise _error(path, f"{where} is missing: the file is truncated or not for this model.")
    if ds.external or ds.is_virtual:
        raise _error(path, f"{where} is an external or virtual dataset, which is refused.")
    if ds.shape != tuple(shape) or ds.dtype.kind not in kinds:
        raise _error(path, f"{where} has shape {ds.shape} and dtype {ds.dtype}; the model needs "
                           f"shape {tuple(shape)} ({'a float' if kinds == 'f' else 'an integer'}).")
    try:
        return ds[()]
    except (OSError, ValueError) as e:
        raise _error(path, f"{where} cannot be read ({e}): the file is truncated or corrupt."
                     ) from e


def _holds_nothing(item) -> bool:
    """Whether an HDF5 item is a layer group without weights (`<name>/vars`, empty), as Keras
    writes a functional model's InputLayer."""
    group = _h5py().Group
    return (isinstance(item, group) and set(item.keys()) <= {"vars"}
            and all(isinstance(v, group) and not len(v) for v in item.values()))


def _read_layers(f, model, path, strict: bool, skip_mismatch: bool = False) -> None:
    """Set every layer's weights from `layers/<key>/vars`; all are read and checked before any
    is set, so a refused file leaves the model as it was."""
    h5py = _h5py()
    root = _child(f, "layers", h5py.Group, path, "layers")
    keys, pending = layer_keys(model), []
    for key, layer in zip(keys, model.layers, strict=True):
        where = f"layers/{key}/vars"
        group = _child(_child(root, key, h5py.Group, path, f"layers/{key}"), "vars", h5py.Group,
                       path, where)
        own, names = layer.weights, set(group.keys()) if group is not None else set()
        if names != {str(i) for i in range(len(own))}:
            message = (f"layer '{layer.name}' ({type(layer).__name__}) has {len(own)} weights; "
                       f"the file has {len(names)} at {where}.")
            if not skip_mismatch:
                raise _error(path, message + " The file is not for this model.")
            warnings.warn(f"Skipping loading weights for {message}", stacklevel=3)
            continue
        try:
            pending.append((layer, [_read(group, str(i), w.shape, w.dtype.kind, path,
                                          f"{where}/{i} ('{layer.name}' {name})")
                                    for i, (name, w) in enumerate(zip(layer.weight_names, own,
                                                                      strict=True))]))
        except ValueError as e:
            if not skip_mismatch:
                raise
            warnings.warn(f"Skipping loading weights for layer '{layer.name}': {e}",
                          stacklevel=3)
    if strict:
        extra = sorted(set(root.keys()) - set(keys)) if root is not None else []
        extra = [key for key in extra if not _holds_nothing(root[key])]  # a functional
        model_vars = _child(f, "vars", h5py.Group, path, "vars")  # model's InputLayer
        if extra or (model_vars is not None and len(model_vars)):
            raise _error(path, f"it holds weights the model does not have: "
                               f"{extra or ['vars']}.")
    for layer, arrays in pending:
        layer.set_weights(arrays)


def _read_optimizer(f, model, path) -> None:
    """The optimizer's variables, as Keras loads them: only when the file holds exactly as many
    as the optimizer has (Keras warns and skips otherwise; an optimizer not built yet has two,
    the iterations and the learning rate)."""
    opt, variables = model.optimizer, model.trainable_weights
    layout = optimizer_layout(opt)
    order = ([(slot, i) for group in layout for i in range(len(variables)) for slot in group]
             if opt.built else [])  # an optimizer not built has no slots yet
    states = list(opt.state_names) if opt.built else []  # Nadam's u_product, after the slots
    expected = 2 + len(order) + len(states)
    group = _child(_child(f, "optimizer", _h5py().Group, path, "optimizer"), "vars",
                   _h5py().Group, path, "optimizer/vars")
    found = len(group) if group is not None else 0
    if found != expected:
        warnings.warn(f"Skipping variable loading for optimizer '{opt.name}', because it has "
                      f"{expected} variables whereas the saved optimizer has {found} variables."
                      + (" This is likely because the optimizer has not been called/built yet."
                         if not opt.built else ""), stacklevel=3)
        return
    if set(group.keys()) != {str(i) for i in range(expected)}:
        raise _error(path, f"optimizer/vars holds {sorted(group.keys())[:10]}, not 0..."
                           f"{expected - 1}.")
    iterations = _read(group, "0", (), "iu", path, "optimizer/vars/0 (iterations)")
    learning_rate = _read(group, "1", (), "f", path, "optimizer/vars/1 (learning rate)")
    slots = [_read(group, str(k), variables[i].shape, "f", path,
                   f"optimizer/vars/{k} ({slot} of weight {i})")
             for k, (slot, i) in enumerate(order, start=2)]
    state_values = [_read(group, str(k), (), "f", path, f"optimizer/vars/{k} ({name})")
                    for k, name in enumerate(states, start=2 + len(order))]
    if not np.isfinite(learning_rate) or learning_rate <= 0 or iterations < 0:
        raise _error(path, f"invalid optimizer state: iterations {iterations}, learning rate "
                           f"{learning_rate}.")
    opt._iterations = int(iterations)  # Keras's variable counts every apply, as tinynn's
    if not isinstance(opt._learning_rate, LearningRateSchedule):  # a schedule is in the config
        opt.learning_rate = float(learning_rate)
    own = opt.slots()
    for (slot, i), value in zip(order, slots, strict=True):
        own[slot][i][...] = value
    for name, value in zip(states, state_values, strict=True):
        own[name][0][...] = value


def load_model(filepath, custom_objects=None, compile: bool = True):
    """A tinynn Sequential from a `.keras` archive written by Keras or by tinynn."""
    path = os.fspath(filepath)
    with _open_zip(path) as (zf, file):
        raw = _member(zf, CONFIG, _CONFIG_LIMIT, path)
        try:
            info = zf.getinfo(WEIGHTS)
        except KeyError:
            raise _error(path, f"the archive has no {WEIGHTS}: it is not a .keras model file, "
                               "or it is damaged.") from None
        # the architecture is built with every weight checked against the HDF5 metadata first
        with _open_h5(_member_in_place(zf, file, info, path), path) as in_place:
            keys: dict = {}
            check = _weight_check(in_place, keys, info.file_size, path)
            try:
                spec = json.loads(raw.decode("utf-8"))
                dtype = keras_config.model_dtype(spec)
                with config.floatx_scope(dtype), checking_weights(check):
                    model, shape = keras_config.model_from_keras(spec, custom_objects)
                    keys.update(zip(map(id, model.layers), layer_keys(model), strict=True))
                    model.build((None, *shape))
                if compile and spec.get("compile_config"):
                    keras_compile.compile_from_keras(model, spec["compile_config"],
                                                     custom_objects)
            except ModelFileError:
                raise
            except (UnicodeDecodeError, RecursionError, ValueError) as e:
                raise _error(path, f"{CONFIG}: {e}") from e
            except (KeyError, TypeError, AttributeError) as e:
                raise _error(path, f"{CONFIG} is malformed ({type(e).__name__}: {e}).") from e
        state = _member(zf, WEIGHTS, _state_limit(model), path)
    with _open_h5(_io.BytesIO(state), path) as f:
        _read_layers(f, model, path, strict=True)
        if model.optimizer is not None:
            model.optimizer.build(model.trainable_weights)  # as Keras's compile_from_config
            _read_optimizer(f, model, path)
    return model


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Keras's `model.load_weights` for a `.weights.h5` file or a `.keras` archive: layers are
    matched by position and class (their group keys), not by name; the optimizer's variables
    are loaded when its count matches (see `_read_optimizer`)."""
    path = os.fspath(filepath)
    if path.endswith(".keras"):
        with _open_zip(path) as (zf, file):
            source = _io.BytesIO(_member(zf, WEIGHTS, _state_limit(model), path))
        with _open_h5(source, path) as f:
            _read_layers(f, model, path, strict=False, skip_mismatch=skip_mismatch)
            if model.optimizer is not None:
                _read_optimizer(f, model, path)
        return
    with open_regular(path) as file, _open_h5(file, path) as f:  # a FIFO is refused, unopened
        _read_layers(f, model, path, strict=False, skip_mismatch=skip_mismatch)
        if model.optimizer is not None:
            _read_optimizer(f, model, path)
