"""What this machine cannot beat, for the benchmarks' "fraction of the limit" columns.

- ``products_seconds``: the matrix products of a forward (and, for training, a backward) alone,
  each shape timed on its own with its operands in cache (best of 5) in the fastest way this
  machine has: a forward product in both of BLAS's forms, x W^T and (W x^T)^T, and, for the few
  rows of decoding (at most ``KERNEL_MAX_ROWS``, the widest window of any CPU), numba's
  small-batch kernel where numba is installed, which beats BLAS there; counted as often as the
  model runs it.  Attention's products, the norms, the activations and Python are left out: a
  step cannot take less with these products.
- ``weight_read_bytes``: the bytes a decoding step must read (every weight matrix once; a tied
  embedding once, as the head), to divide by the memory bandwidth (memory_bandwidth.py) for the
  batch-1 bound.
"""

from __future__ import annotations

import numpy as np
from timing import best_seconds

from minireason.model import head_parameter_name, parameter_shapes

try:
    from minireason.kernels import numba_decode
except ImportError:  # numba not installed: BLAS's products are the floor
    numba_decode = None

# the most rows the small-batch kernel takes on any CPU (its widest window)
KERNEL_MAX_ROWS = 0 if numba_decode is None else max(max(window) for window in numba_decode.ROW_WINDOWS.values())


def _layer_and_head_shapes(config) -> tuple[dict[tuple[int, int], int], tuple[int, int]]:
    """(out, in) -> count over the layers' projections, and the head's (out, in)."""
    shapes = parameter_shapes(config)
    counts: dict[tuple[int, int], int] = {}
    for name, shape in shapes.items():
        if len(shape) == 2 and name.startswith("model.layers."):
            counts[shape] = counts.get(shape, 0) + 1
    return counts, shapes[head_parameter_name(config)]


_timed: dict[tuple, float] = {}


def _product_seconds(rows: int, n_in: int, n_out: int, kind: str) -> float:
    """Best time of one product as the model runs it: forward x W^T, backward dout W and dout^T x."""
    key = (rows, n_in, n_out, kind)
    if key not in _timed:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((rows, n_in)).astype(np.float32)  # (N, in)
        weight = rng.standard_normal((n_out, n_in)).astype(np.float32)  # (out, in)
        dout = rng.standard_normal((rows, n_out)).astype(np.float32)  # (N, out)
        if kind == "forward":  # BLAS's small-M path is faster with the weight as the left operand
            x_t = np.ascontiguousarray(x.T)  # (in, N)
            ways = [lambda: x @ weight.T, lambda: np.ascontiguousarray((weight @ x_t).T)]
            if numba_decode is not None and rows <= KERNEL_MAX_ROWS:
                ways.append(lambda: numba_decode.small_batch_linear(x, weight))
            _timed[key] = min(best_seconds(way, repeats=5) for way in ways)
        else:
            a, b = {"dx": (dout, weight), "dW": (dout.T, x)}[kind]
            _timed[key] = best_seconds(lambda: a @ b, repeats=5)
    return _timed[key]


def products_seconds(config, rows: int, head_rows: int | None = None, backward: bool = False) -> float:
    """The products of one forward over ``rows`` token positions (the head over ``head_rows``, all
    rows unless told: a decoding step's prefill needs only the last), and with ``backward`` those of
    its backward (dx and dW of every projection and of the head)."""
    counts, (vocab, hidden) = _layer_and_head_shapes(config)
    head_rows = rows if head_rows is None else head_rows
    kinds = ("forward", "dx", "dW") if backward else ("forward",)
    total = 0.0
    for kind in kinds:
        for (n_out, n_in), count in counts.items():
            total += count * _product_seconds(rows, n_in, n_out, kind)
        total += _product_seconds(head_rows, hidden, vocab, kind)
    return total


def generation_products_seconds(config, batch: int, prompt: int, new_tokens: int) -> float:
    """The products of greedy generation: the prompt's forward (head on the last position), then
    ``new_tokens - 1`` one-token steps, every row of the batch in each."""
    return (products_seconds(config, batch * prompt, head_rows=batch)
            + (new_tokens - 1) * products_seconds(config, batch))


def weight_read_bytes(model) -> int:
    """Bytes of the weights a decoding step reads: every matrix once (the embedding's rows are
    looked up, not read whole, unless it is also the head) and the norm vectors."""
    config = model.config
    total = sum(value.nbytes for value in model.params.values())
    if not config.tie_word_embeddings:
        total -= model.params["model.embed_tokens.weight"].nbytes
    return total
