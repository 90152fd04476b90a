"""Threading set-up shared by the Numba kernels; imported before the first parallel kernel runs.

On a small machine NumPy's BLAS threads and Numba's OpenMP threads take turns on the same
cores.  OpenMP threads that busy-wait after a parallel region then steal the cores BLAS needs
(and the reverse): on 2 cores a 0.1 ms RMSNorm measured 8 ms that way.  Passive waiting makes
idle threads sleep instead.  ``setdefault``: a value the user exported wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
