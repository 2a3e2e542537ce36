"""A model's computation as a graph of named arrays, each with its value and its gradient.

`trace(model, x, y)` runs one forward and one backward pass of a compiled `Sequential` and
returns its nodes in forward order: the input X; for each Dense layer its weights W, b, its
pre-activation Z and (unless linear) its activation A; each other layer's output; then, for a
cross-entropy loss, the probabilities P and the loss L. Every node carries `value` and `grad` =
dL/d(value) for the whole batch (L is the batch mean, as in `fit`), named in docs/backprop.md's
notation: X, Z1, A1, Z2, P, L, W1, b1, ...

`tinynn.plotting.plot_computation_graph` draws it for one sample.

The pass writes the layers' gradient buffers, as a training step would, and changes no weight.
"""

from dataclasses import dataclass, field

import numpy as np

from tinynn import activations, losses, ops
from tinynn.layers import Activation, Dense, Dropout, Flatten


@dataclass
class Node:
    """One array of the computation.

    Attributes:
        name: e.g. "Z1", "W1", "L".
        formula: how it is computed, e.g. "Z1 = X @ W1 + b1".
        value: the array (the whole batch, or a weight; L is a 0-d array).
        grad: dL/d(value), the same shape; None where no gradient is defined.
        inputs: the names of the nodes it is computed from.
        kind: "input", "weight", "array" or "loss".
        per_sample: whether the first axis is the batch (so one sample is one row).
        per_sample_loss: for the loss node, each sample's loss l_n (L is their mean).
        layer: the name of the layer that computes (or owns) it; None for X, L, and P when
            the loss computes it.
    """

    name: str
    formula: str
    value: np.ndarray
    grad: "np.ndarray | None"
    inputs: list = field(default_factory=list)
    kind: str = "array"
    per_sample: bool = True
    per_sample_loss: "np.ndarray | None" = None  # the loss node's l_n, one per sample
    layer: "str | None" = None  # the name of the layer that computes it


def _forward_nodes(model, X, training):
    """Forward through the layers; one entry per layer: (layer, [nodes it adds], its input)."""
    steps, prev, k = [], "X", 0
    for layer in model.layers:
        Y = layer.forward(X, training=training)
        if isinstance(layer, Dense):
            k += 1
            W, b = layer.kernel, layer.bias
            Z = ops.dense_forward(X, W, np.zeros(W.shape[1], W.dtype) if b is None else b)
            nodes = [Node(f"W{k}", f"W{k}: kernel of {layer.name}", W, None, kind="weight",
                          per_sample=False)]
            bias = f" + b{k}" if b is not None else ""
            if b is not None:
                nodes.append(Node(f"b{k}", f"b{k}: bias of {layer.name}", b, None,
                                  kind="weight", per_sample=False))
            nodes.append(Node(f"Z{k}", f"Z{k} = {prev} @ W{k}{bias}", Z, None,
                              [prev, *(n.name for n in nodes)]))
            if layer.activation != "linear":
                nodes.append(Node(f"A{k}", f"A{k} = {layer.activation}(Z{k})", Y, None,
                                  [f"Z{k}"]))
        elif isinstance(layer, Activation) or (not layer.params and prev == f"Z{k}" and not
                                                isinstance(layer, (Flatten, Dropout))):
            # an activation layer (Activation, ReLU, ...); after Z_k its output is A_k
            name = f"A{k}" if k and prev == f"Z{k}" else layer.name
            function = getattr(layer, "activation", None) or type(layer).__name__.lower()
            nodes = [Node(name, f"{name} = {function}({prev})", Y, None, [prev])]
        elif isinstance(layer, Flatten):
            nodes = [Node("X_flat", f"X_flat = {prev} flattened", Y, None, [prev])]
        elif isinstance(layer, Dropout):
            mode = "mask" if training and layer.rate else "identity at inference"
            nodes = [Node(f"D{k}", f"D{k} = dropout({prev}) ({mode})", Y, None, [prev])]
        else:
            nodes = [Node(layer.name, f"{layer.name}({prev})", Y, None, [prev])]
        for node in nodes:
            node.layer = layer.name
        steps.append((layer, nodes, X))
        prev, X = nodes[-1].name, Y
    return steps, X


def trace(model, x, y, training: bool = False) -> list[Node]:
    """The nodes of one forward and backward pass of a compiled Sequential on (x, y).

    Args:
        model: a compiled `Sequential` (its loss is differentiated).
        x: a batch of inputs.
        y: its targets (integer labels for sparse cross-entropy).
        training: run the training-mode forward (Dropout draws a mask). Defaults to False.

    Returns:
        The nodes in forward order (the weights of a layer just before the array they make).
    """
    if model.loss is None:
        raise ValueError("trace differentiates the model's loss: compile the model first.")
    X = np.asarray(x)
    if not model.built:
        model.build((None, *X.shape[1:]))
    N = X.shape[0]
    labels = model._as_targets(y, N)  # checked and converted as fit does
    steps, out = _forward_nodes(model, X, training)
    last_layer, last_nodes, last_input = steps[-1]
    loss, tail = model.loss, []
    # fused: the model ends in a softmax and, as in fit, the loss is taken from its input
    fused = (isinstance(loss, losses.SparseCategoricalCrossentropy)
             and model._loss_logits_layer(out) is last_layer
             and getattr(last_layer, "activation", None) == "softmax")
    per_sample = model._loss_values(out, labels)
    if fused or (isinstance(loss, losses.SparseCategoricalCrossentropy) and loss.from_logits):
        if fused:  # the softmax's output is P itself
            p_node = last_nodes[-1]
            logits = last_nodes[-2].value if isinstance(last_layer, Dense) else last_input
            p_node.name, p_node.formula = "P", f"P = softmax({p_node.inputs[0]})"
        else:
            logits = out
            p_node = Node("P", f"P = softmax({last_nodes[-1].name})",
                          activations.softmax(out), None, [last_nodes[-1].name])
            tail.append(p_node)
        rows = np.arange(N), labels
        p_node.grad = np.zeros_like(p_node.value)  # L = mean_n(-log P[n, y_n])
        p_node.grad[rows] = -1 / (N * p_node.value[rows])
        loss_node = Node("L", "L = mean_n(-log P[n, y_n])", np.float64(per_sample.mean()),
                         np.float64(1.0), ["P"], kind="loss", per_sample=False)
    else:
        loss_node = Node("L", f"L = mean({loss.name}({last_nodes[-1].name}, y))",
                         np.float64(per_sample.mean()), np.float64(1.0),
                         [last_nodes[-1].name], kind="loss", per_sample=False)
    loss_node.per_sample_loss = per_sample

    flags = [layer.compute_input_grad for layer in model.layers]
    try:
        for layer in model.layers:  # every layer is asked for its input's gradient
            layer.compute_input_grad = True
        if fused:
            dX = losses.softmax_cross_entropy_backward(logits, labels)
            if isinstance(last_layer, Dense):
                last_nodes[-2].grad = dX
            dX = last_layer.backward_from_logits(dX)
            _weight_grads(last_layer, last_nodes)
            rest = steps[:-1]
        else:
            dX, rest = loss.gradient(labels, out), steps
        for layer, layer_nodes, _ in reversed(rest):
            layer_nodes[-1].grad = dX
            if isinstance(layer, Dense) and layer.activation != "linear":
                Z, A = layer_nodes[-2].value, layer_nodes[-1].value
                layer_nodes[-2].grad = activations.forward_backward(layer.activation)[1](dX, Z, A)
            dX = layer.backward(dX)
            _weight_grads(layer, layer_nodes)
    finally:
        for layer, flag in zip(model.layers, flags, strict=True):
            layer.compute_input_grad = flag
    nodes = [Node("X", "X: the input batch", X, dX, kind="input")]
    for _, layer_nodes, _ in steps:
        nodes.extend(layer_nodes)
    return [*nodes, *tail, loss_node]


def _weight_grads(layer, layer_nodes) -> None:
    for node in layer_nodes:
        if node.kind == "weight":
            key = "kernel" if node.name.startswith("W") else "bias"
            node.grad = layer.grads[key].copy()
