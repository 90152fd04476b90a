"""Accelerated implementations of backend ops (installed as ``minireason.kernels``)."""
