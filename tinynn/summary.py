"""`model.summary()`: the layer table Keras users know."""

from tinynn import keras_format


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def summary_table(model) -> str:
    """Layer (type) | Output Shape | Param #, then the totals (bytes at the weights' dtype)."""
    rows = []
    shape = model.input_shape
    for layer in model.layers:
        shape = layer.compute_output_shape(shape) if shape is not None else None
        out = "?" if shape is None else str(shape)
        count = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", out, count))
    widths = [max(31, *(len(r[0]) + 1 for r in rows)), 22, 13]

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(row):
        a, b, c = row
        return f"\u2502 {a:<{widths[0]}} \u2502 {b:<{widths[1]}} \u2502 {c:>{widths[2]}} \u2502"

    weights = model.count_params()
    trainable = sum(w.size for w in model.trainable_weights)
    itemsize = next((p.itemsize for p in model.weights), 4)
    optimizer_count, optimizer_bytes = _optimizer_params(model)
    total = weights + optimizer_count
    parts = [f'Model: "{model.name}"', line("\u250c", "\u252c", "\u2510", "\u2500"),
             cells(("Layer (type)", "Output Shape", "Param #")),
             line("\u251c", "\u253c", "\u2524", "\u2500")]
    for i, row in enumerate(rows):
        if i:
            parts.append(line("\u251c", "\u253c", "\u2524", "\u2500"))
        parts.append(cells(row))
    parts += [line("\u2514", "\u2534", "\u2518", "\u2500"),
              f" Total params: {total:,} ({_fmt_bytes(weights * itemsize + optimizer_bytes)})",
              f" Trainable params: {trainable:,} ({_fmt_bytes(trainable * itemsize)})",
              f" Non-trainable params: {weights - trainable:,} "
              f"({_fmt_bytes((weights - trainable) * itemsize)})"]
    if optimizer_count:
        parts.append(f" Optimizer params: {optimizer_count:,} ({_fmt_bytes(optimizer_bytes)})")
    return "\n".join(parts)


def _optimizer_params(model) -> "tuple[int, int]":
    """(count, bytes) of the optimizer's state once it has taken a step (or been loaded), as
    Keras counts `optimizer.variables`: its int64 step counter, its float32 learning-rate
    variable unless a schedule gives the rate, and the slots Keras creates (SGD's momentums
    only with momentum, ...: `keras_format.optimizer_layout`). (0, 0) before that."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", False):
        return 0, 0
    counter, rate, *slots = keras_format.optimizer_variables(model)
    count, nbytes = 1 + sum(v.size for v in slots), 8 + sum(v.nbytes for v in slots)
    if not isinstance(optimizer.get_config().get("learning_rate"), dict):  # not a schedule
        count, nbytes = count + 1, nbytes + 4
    return count, nbytes
