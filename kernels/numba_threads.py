"""Threading set-up shared by the Numba kernels; imported before the first parallel kernel runs.

How numba's OpenMP threads wait between parallel regions is a process setting that has to be in
the environment before the threads start; it is set here, at the kernels' import, by
``minireason.runtime.set_openmp_wait_policy`` (a short spin, then sleep; the reasons and their
measurements are in docs/kernels.md, "Process settings").  A value the user exported wins.
"""

from __future__ import annotations

from minireason.runtime import set_openmp_wait_policy

set_openmp_wait_policy()
