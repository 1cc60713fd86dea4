"""The pixel MLP's training on Keras's JAX backend: an epoch in one compiled call, the data on the device.

Keras's own ``fit`` on JAX runs every batch from Python: it gathers the batch's rows on the host,
copies them to the device and calls the compiled training step, about a thousand times for a
survey's 200 000 training pixels and 5 epochs. On an H100 that fit took 1.47 s once traced, its
profile dominated by those copies and calls, for a model whose step is a few microseconds of GPU
work. Here the training pixels are copied to the device once, and each epoch's full batches run in
one compiled loop (``jax.lax.fori_loop``) that gathers each batch on the device. The last, partial
batch of an epoch gets a step of its own, as in Keras.

The training is Keras's: the model's own ``train_step`` (loss, L2 penalties, dropout, Adam), the
same batch size, and each epoch's order drawn as Keras's ``fit`` draws it (``np.random.permutation``
of the rows, from NumPy's global generator, which ``sscnb.cnn._keras.set_random_seed`` seeds as
``keras.utils.set_random_seed`` does). The fitted weights are the same, bit for bit, as those of
Keras's ``fit`` on a model already built (tested).

They are also the same for a process's first fit, which Keras's ``fit`` does not give: the first
time a compiled model is fitted, Keras builds its loss by drawing one batch from its data iterator,
and that draw takes one permutation from the generator, so the first fit of a process shuffled with
the next one. A survey mapped first in its process then got another map than when it came later
in a batch, so a resumed batch did not give what an uninterrupted one gave.

The compiled loop is kept per model and batch size. The rows are padded to a power of two, so that a
survey with another number of training pixels reuses it: only the partial batch's step is compiled
for each new size, as Keras does.
"""

from __future__ import annotations

import numpy as np

#: compiled (epoch of full batches, one partial batch) per (id(model), batch size), holding the model
_COMPILED: dict = {}


def _padded(a: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows,) + a.shape[1:], a.dtype)
    out[: len(a)] = a
    return out


def _compiled(model, batch_size: int):
    import jax

    key = (id(model), batch_size)
    if key not in _COMPILED:
        if len(_COMPILED) >= 8:
            _COMPILED.clear()

        def step(state, x, y, rows):
            return model.train_step(state, (x[rows], y[rows]))[1]

        def epoch(state, x, y, order, n_full):
            def body(i, state):
                return step(state, x, y, jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size))

            return jax.lax.fori_loop(0, n_full, body, state)

        _COMPILED[key] = (model, jax.jit(epoch), jax.jit(step))
    return _COMPILED[key][1:]


def _variables(model) -> tuple:
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def fit(model, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int) -> None:
    """Train a compiled Keras model on JAX as ``model.fit(x, y, epochs, batch_size, shuffle=True)`` does.

    Parameters
    ----------
    model : keras.Model
        Compiled, with its optimizer built; its variables hold the trained state afterwards.
    x : (n, F) ndarray of float32
    y : (n,) ndarray of int
        Class indices (the loss is sparse categorical cross-entropy).
    epochs, batch_size : int
    """
    import jax.numpy as jnp

    n = len(y)
    n_full, rest = divmod(n, batch_size)
    rows = 1 << max(int(n - 1).bit_length(), int(batch_size - 1).bit_length())
    xd = jnp.asarray(_padded(np.asarray(x, np.float32), rows))
    yd = jnp.asarray(_padded(np.asarray(y, np.int32), rows))
    epoch, step = _compiled(model, int(batch_size))
    state = tuple([v.value for v in vs] for vs in _variables(model))
    for _ in range(int(epochs)):
        order = np.random.permutation(n).astype(np.int32)  # noqa: NPY002 -- the generator Keras draws from
        state = epoch(state, xd, yd, jnp.asarray(_padded(order, rows)), n_full)
        if rest:
            state = step(state, xd, yd, jnp.asarray(order[n_full * batch_size :]))
    for vs, values in zip(_variables(model), state, strict=True):
        for v, value in zip(vs, values, strict=True):
            v.assign(value)
