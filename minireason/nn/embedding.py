"""Token embedding: a table lookup, and its backward, a scatter-add."""

from __future__ import annotations

import numpy as np

from minireason.device import array_module_of


def embedding_forward(token_ids: np.ndarray, weight: np.ndarray):
    """out[b, t] = weight[token_ids[b, t]].  token_ids (B, T) ints, weight (V, D) -> out (B, T, D)."""
    out = weight[token_ids]  # (B, T, D)
    cache = (token_ids, weight.shape)
    return out, cache


def embedding_backward(dout: np.ndarray, cache, into: np.ndarray | None = None) -> np.ndarray:
    """Gradient of the lookup with respect to the table.

    Forward: out[b, t] = weight[token_ids[b, t]].  Cache: (token_ids, weight shape).
    Every row of the table receives the sum of the upstream gradients of the positions that
    looked it up (a token used twice gets two contributions). Returns dweight (V, D).
    ``into``: a (V, D) gradient of the same table from elsewhere (a tied head's), which the lookup's
    gradient is added to in place and returned: no second (V, D) table, the same numbers as adding
    the two tables.
    """
    token_ids, weight_shape = cache
    vocab_size, hidden_size = weight_shape
    module = array_module_of(dout)  # numpy, or the device module when the arrays live on a GPU
    ids, rows = token_ids.reshape(-1), dout.reshape(-1, hidden_size)  # (N,), (N, D)
    if module is not np or ids.size == 0:
        dweight = module.zeros(weight_shape, dtype=dout.dtype)  # (V, D)
        module.add.at(dweight, ids, rows)  # a table of its own first: the sums round as on the host
        if into is None:
            return dweight
        into += dweight
        return into
    # NumPy's add.at goes row by row (about 4x slower here): sort the positions by token instead
    # and add each token's run of rows at once
    order = np.argsort(ids, kind="stable")  # (N,)
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))  # first of each run
    dweight = np.zeros(weight_shape, dtype=dout.dtype) if into is None else into  # (V, D)
    dweight[sorted_ids[starts]] += np.add.reduceat(rows[order], starts, axis=0)  # each token once: a plain indexed add
    return dweight
