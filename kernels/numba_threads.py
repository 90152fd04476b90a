"""Threading set-up shared by the Numba kernels; imported before the first parallel kernel runs.

On a small machine NumPy's BLAS threads and Numba's OpenMP threads take turns on the same
cores, and how an OpenMP thread waits for the next parallel region decides who loses:

- spinning long (libgomp's default of 300,000 spins, or ``OMP_WAIT_POLICY=ACTIVE``) steals the
  cores BLAS needs: on 2 cores a 0.1 ms RMSNorm measured 8 ms that way;
- sleeping at once (``OMP_WAIT_POLICY=PASSIVE``, what this module set before) costs a wake-up of
  about 50 us at the start of every parallel region: a Qwen3-0.6B bfloat16 decoding step runs 197
  of them (one per matrix), about a fifth of its time;
- a short spin (``GOMP_SPINCOUNT=20000``) keeps the threads awake across the small gaps between a
  decoding step's products and lets them sleep during long BLAS calls.  Measured (three
  alternating runs each, docs/kernels.md): Qwen3-0.6B bfloat16 decoding 17.4 -> 21.7 tokens/s,
  the "small" training step 793 -> 776 tokens/s (within the runs' spread).

libgomp is Numba's OpenMP runtime on Linux; ``KMP_BLOCKTIME=0`` keeps Intel's runtime, where it
is the one loaded, sleeping at once as before.  A value the user exported wins.
"""

from __future__ import annotations

import os

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "20000"
    os.environ.setdefault("KMP_BLOCKTIME", "0")
