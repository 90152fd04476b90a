"""The frozen reference model of DPO and of GRPO's KL term: the model, its weights' hash, the resume check.

A run trained against a reference can only be resumed against the same one: the hash travels in
the checkpoint (``state_dict``) and a resume with other reference weights is refused.
"""

from __future__ import annotations

from minireason.errors import CheckpointError
from minireason.identity import weights_sha256
from minireason.model import frozen_copy


class FrozenReference:
    """A read-only copy of the starting weights (or the given model), never trained, and its hash."""

    def __init__(self, model, reference=None):
        self.model = reference if reference is not None else frozen_copy(model)
        self.sha256 = weights_sha256(self.model.params)

    def state_dict(self) -> dict:
        return {"reference_sha256": self.sha256}

    def load_state_dict(self, state: dict) -> None:
        """Refuse a checkpoint trained against other reference weights."""
        check_reference(state, self.sha256)


def check_reference(state: dict, sha256: str | None) -> None:
    """CheckpointError unless the checkpoint's trainer state names the reference ``sha256`` (None: none)."""
    saved = state.get("reference_sha256")
    if saved != sha256:
        raise CheckpointError(f"the checkpoint was trained against reference model {str(saved)[:12]}, this run's "
                              f"reference is {str(sha256)[:12]}; resume with the same --model")
