"""Keep freed memory for reuse during training: fewer page faults, the same numbers.

A training step makes and frees the same multi-megabyte activation arrays every step; glibc
would otherwise hand that memory back to the kernel and page-fault it in again, zero-filled, at
the next step.  The setting now lives with the other process settings in ``minireason.runtime``
(applied by the backend for every entry point, docs/kernels.md "Process settings"); these names
stay for callers of the training package.
"""

from __future__ import annotations

from minireason.runtime import (
    M_MMAP_THRESHOLD,
    M_TRIM_THRESHOLD,
    MMAP_THRESHOLD_BYTES,
    TRIM_THRESHOLD_BYTES,
    keep_freed_memory_for_reuse,
    restore_default_memory_settings,
)

__all__ = ["M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES",
           "keep_freed_memory_for_reuse", "restore_default_memory_settings"]
