"""Where the tests find the repository and the shared data beside it (``../shared/data``, absent from a clone)."""

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
