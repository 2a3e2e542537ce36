"""Loading tinynn's own archive into a model without trusting it: the weights the architecture
declares are compared with the stored arrays' npy headers as it is built (`weight_check`, for
`tinynn.layers.checking_weights`), every layer's and optimizer slot's shapes and dtypes before
anything is read, and whatever an edited header makes fail is one error naming the file.
`tinynn.saving` builds and compiles; `tinynn.io` and `tinynn.archive` read the bytes.
"""

import contextlib

import numpy as np

from tinynn import io, utils


def generators(model) -> dict:
    """Each layer's own random generator (Dropout's), by layer name."""
    return {layer.name: layer._rng for layer in model.layers
            if isinstance(getattr(layer, "_rng", None), np.random.Generator)}


# what a header edited to "abc", NaN or a list where a dict belongs makes the code below raise
MALFORMED = (KeyError, TypeError, AttributeError, IndexError, ValueError, OverflowError,
             RecursionError)


@contextlib.contextmanager
def malformed_header(reader):
    """Any error the header's contents cause becomes one error naming the file."""
    try:
        yield
    except io.ModelFileError:
        raise
    except MALFORMED as e:
        raise reader.error(f"its header is malformed ({type(e).__name__}: {e}).") from e


def stored_weights(reader, header: dict) -> "dict[str, dict[str, str]]":
    """{layer name: {weight name: array key}}, in the file's order."""
    stored: dict[str, dict[str, str]] = {}
    for e in header["arrays"]:
        if e["role"] == "weight":
            stored.setdefault(e["layer"], {})[e["name"]] = e["key"]
    return stored


def weight_check(reader, stored: dict):
    """For `layers.checking_weights`: each weight the architecture declares must be the stored
    one, shape and dtype, before it is allocated."""
    # a model nested in the model stores its weights as "inner layer/weight" under its own
    # name: those are looked up by the inner layer's name too
    nested = {}
    for weights in stored.values():
        for path, key in weights.items():
            *_, inner, weight = ["", *path.split("/")]
            nested.setdefault(inner, {}).setdefault(weight, key)

    def check(layer, name, shape, dtype):
        key = stored.get(layer.name, {}).get(name) or nested.get(layer.name, {}).get(name)
        wanted = f"weight '{layer.name}/{name}' of shape {tuple(shape)} ({dtype})"
        if key is None:
            raise reader.error(f"the weights do not fit the architecture: it declares {wanted}, "
                               "which the file does not hold.")
        got_shape, got_dtype = reader.declared(key)
        if got_shape != tuple(shape) or got_dtype != dtype:
            raise reader.error(f"the weights do not fit the architecture: it declares {wanted}, "
                               f"the file holds {got_shape} ({got_dtype}) in '{key}': refused "
                               "before allocating it.")
    return check


def set_weights(reader, model, stored: dict) -> None:
    """Check every layer's stored weights against the model (names, shapes, dtypes: from the
    npy headers, nothing read), then read them, layer by layer. Nothing is set unless every
    layer fits; an array read that fails its SHA-256 leaves earlier layers set."""
    stored = dict(stored)
    plan = []
    for layer in model.layers:
        got = stored.pop(layer.name, {})
        if list(got) != layer.weight_names:
            raise reader.error(f"the weights do not fit the architecture: layer '{layer.name}' "
                               f"has weights {layer.weight_names}, the file {list(got)}.")
        for (name, key), w in zip(got.items(), layer.weights, strict=True):
            if reader.declared(key) != (w.shape, w.dtype):
                raise reader.error(f"the weights do not fit the architecture: layer "
                                   f"'{layer.name}' weight '{name}' is {w.shape} ({w.dtype}), "
                                   f"the file holds {reader.declared(key)} in '{key}'.")
        plan.append((layer, list(got.values())))
    if stored:
        raise reader.error(f"it holds weights of layers the model does not have: {list(stored)}.")
    for layer, keys in plan:
        layer.set_weights([reader.array(key) for key in keys])


def training_state(reader, model, state: dict, restore_random_state: bool):
    """Check the saved optimizer state against the model's (nothing read); return the function
    that reads and restores it, with the random generators."""
    opt = model.optimizer
    iterations = state["iterations"]
    if type(iterations) is not int or not 0 <= iterations < 2**63:
        raise reader.error(f"invalid training state: iterations={iterations!r}.")
    variables = model.trainable_weights
    if state["slots"]:
        opt.build(variables)
    own_slots = opt.slots()
    plan = []
    for slot, keys in state["slots"].items():
        if slot not in own_slots:
            raise reader.error(f"unknown optimizer state {slot!r} for {type(opt).__name__}.")
        own = own_slots[slot]
        if any(k not in reader.entries or reader.entries[k]["role"] != "optimizer"
               for k in keys):
            raise reader.error(f"optimizer state {slot!r} lists arrays the header does not "
                               f"describe ({keys!r}).")
        declared = [reader.declared(k) for k in keys]
        if any(dtype != o.dtype for (_, dtype), o in zip(declared, own, strict=False)):
            raise reader.error(f"optimizer state {slot!r} is stored as "
                               f"{[str(d) for _, d in declared]}, the model's is "
                               f"{own[0].dtype if own else None}: refused (not cast).")
        sizes = [int(np.prod(shape)) for shape, _ in declared]
        flat = (len(keys) == 1 and len(own) > 1 and len(declared[0][0]) == 1
                and sizes[0] == sum(o.size for o in own))  # tinynn 0.1: one flat array
        if not flat and (len(keys) != len(own) or any(
                n != o.size for n, o in zip(sizes, own, strict=True))):
            raise reader.error(f"optimizer state {slot!r} does not match the weights.")
        plan.append((own, keys, flat))
    states = [(g, state["rng"]["layers"].get(name), f"layer '{name}'")
              for name, g in generators(model).items()]
    if restore_random_state:
        states.append((utils.rng(), state["rng"]["global"], "the global generator"))
    for _, saved, what in states:
        if saved is None:
            raise reader.error(f"no random state saved for {what}.")

    def restore() -> None:
        for own, keys, flat in plan:
            saved = [reader.array(k) for k in keys]
            if flat:
                saved = np.split(saved[0], np.cumsum([o.size for o in own])[:-1])
            for s, o in zip(saved, own, strict=True):
                o[...] = s.reshape(o.shape)
        opt._iterations = iterations  # every apply call (Keras's `iteration`)
        for rng, saved, what in states:
            try:
                rng.bit_generator.state = saved
            except (TypeError, ValueError, KeyError) as e:
                raise reader.error(f"invalid random state for {what}: {e}") from e
    return restore
