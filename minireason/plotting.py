"""The one place matplotlib is loaded: pyplot on the Agg backend (figures go to files; no display needed).

matplotlib is imported on first use, not with the package, so that commands which draw nothing
never pay for it.
"""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot``, its backend set to Agg (PNG files, no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ticker():
    """``matplotlib.ticker`` (locators and formatters for axes)."""
    import matplotlib.ticker

    return matplotlib.ticker
