"""The demo's output folder and its stages' folders, claimed before the first stage runs.

The output folder is a run folder of ``demo``; ``scaling/``, ``grpo/`` and ``distillation/`` inside it
are run folders of ``demo <stage>``.  Every folder the chosen stages will write is claimed before
any stage runs, those already there first, so that a refusal (a folder holding a user's own files,
another command's run, a run in progress) comes before anything is made or written.  A stage folder
of an earlier demo run is emptied: its files (say, a stale eval/step_N.json) would be read as this
run's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from minireason.run_folder import LOCK_NAME, MARKER_NAME, RunFolder, claim_run_folder

DEMO_COMMAND = "demo"
STAGES_WITH_FOLDERS = ("scaling", "grpo", "distillation")


def stage_command(stage: str) -> str:
    """The command recorded in a stage's run folder."""
    return f"{DEMO_COMMAND} {stage}"


@dataclass
class DemoFolders:
    """The demo's run folder and one run folder per stage, held (locked) while the demo runs."""
    out: RunFolder
    stages: dict[str, RunFolder]

    def release(self) -> None:
        """Unlock every folder, the stages' before the demo's own."""
        for folder in self.stages.values():
            folder.release()
        self.out.release()


def empty_run_folder(folder: RunFolder) -> None:
    """Remove an earlier run's files from a claimed folder, its marker and lock kept."""
    for entry in folder.path.iterdir():
        if entry.name in (MARKER_NAME, LOCK_NAME):  # the run folder's own, kept
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def claim_demo_folders(out_dir: os.PathLike, stages: Sequence[str]) -> DemoFolders:
    """Claim the output folder and the folders of the chosen ``stages`` (InputError on a refusal,
    with nothing written), then empty the stage folders an earlier demo run left."""
    out = claim_run_folder(out_dir, command=DEMO_COMMAND)
    claimed: dict[str, RunFolder] = {}
    try:
        names = [name for name in STAGES_WITH_FOLDERS if name in stages]
        names.sort(key=lambda name: not os.path.lexists(out.path / name))  # folders already there first
        for name in names:
            claimed[name] = claim_run_folder(out.path / name, command=stage_command(name))
    except BaseException:
        DemoFolders(out, claimed).release()
        raise
    for folder in claimed.values():
        if folder.resumed:
            empty_run_folder(folder)
    return DemoFolders(out, claimed)
