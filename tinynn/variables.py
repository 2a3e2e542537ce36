"""`Variable`: a layer's weight as Keras programs reach it, `layer.kernel`, `layer.bias`.

In Keras a weight is a `keras.Variable`, and programs change it in place with
`layer.bias.assign(value)` (TensorFlow's imbalanced-data tutorial sets the output bias to
log(pos/neg) that way) and read it with `.numpy()`. In tinynn a weight is a NumPy array; the
layer's attributes give a *view* of that same array with Keras's methods added, so

    layer.bias.assign([np.log(pos / neg)])

writes into the array the optimizer updates, and everything else NumPy does with a view works
unchanged. Arithmetic on a Variable gives a plain array (`X @ layer.kernel` is an ndarray), so
a Variable never spreads into a model's outputs.
"""

import numpy as np


class Variable(np.ndarray):
    """A view of one weight with Keras's `assign`, `assign_add`, `assign_sub`, `numpy`,
    `value`, `name`, `path` and `trainable`. Made by `Variable.of(array, ...)`."""

    @classmethod
    def of(cls, array: np.ndarray, layer_name: str, name: str, trainable: bool) -> "Variable":
        view = array.view(cls)
        view.name, view.path, view.trainable = name, f"{layer_name}/{name}", trainable
        return view

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # Results of ufuncs (+, @, np.exp, ...) are plain arrays, not Variables.
        return array[()] if return_scalar else array.view(np.ndarray)

    def assign(self, value) -> "Variable":
        """Write `value` into the weight, in place (shape checked, cast to the weight's dtype,
        as Keras's `Variable.assign`)."""
        value = np.asarray(value)
        if value.shape != self.shape:
            raise ValueError(  # Keras's words
                "The shape of the target variable and the shape of the target value in "
                f"`variable.assign(value)` must match. variable.shape={self.shape}, Received: "
                f"value.shape={value.shape}. Target variable: {getattr(self, 'path', '?')}")
        if value.dtype.kind not in "biuf":
            raise TypeError(f"Variable '{getattr(self, 'path', '?')}' holds numbers: assign() "
                            f"got dtype {value.dtype}.")
        self[...] = value
        return self

    def assign_add(self, delta) -> "Variable":
        """`w.assign(w + delta)`."""
        return self.assign(self.numpy() + np.asarray(delta))

    def assign_sub(self, delta) -> "Variable":
        """`w.assign(w - delta)`."""
        return self.assign(self.numpy() - np.asarray(delta))

    def numpy(self) -> np.ndarray:
        """A copy of the weight's values as a plain array, as Keras's `.numpy()`."""
        return np.array(self.view(np.ndarray))

    @property
    def value(self) -> np.ndarray:
        """The weight as a plain array (no copy)."""
        return self.view(np.ndarray)

    def __repr__(self) -> str:
        body = np.array2string(self.view(np.ndarray), separator=", ", prefix="  ")
        return (f"<Variable path={getattr(self, 'path', '?')}, shape={self.shape}, "
                f"dtype={self.dtype}, value=\n  {body}>")
