"""Regenerates every figure on the documentation pages from a run; no figure is edited by hand.

    python docs/make_figures.py              # a reduced demo (a few minutes on 2 cores), then its plots
    python docs/make_figures.py --run DIR    # the plots of a demo already run into DIR

The demo (``minireason demo``) writes ``accuracy_vs_tokens.png`` (the scaling plot),
``grpo_curves.png`` and ``distillation_curves.png`` (the training curves) and ``report.json``; they
are copied into ``docs/figures/`` under the names the pages use, with ``figures.json`` recording the
command and the settings they came from.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

FIGURES = Path(__file__).resolve().parent / "figures"

# the demo's plot -> the name the pages use
PLOTS = {
    "accuracy_vs_tokens.png": "demo_accuracy_vs_tokens.png",
    "grpo_curves.png": "demo_grpo_curves.png",
    "distillation_curves.png": "demo_distillation_curves.png",
}

# a reduced budget: every stage, small enough to rerun in minutes, large enough to show the shapes
DEMO_ARGUMENTS = ["--limit", "200", "--scaling-problems", "24", "--grpo-steps", "20",
                  "--distill-steps", "40", "--seed", "0", "--no-progress"]


def run_demo(out_dir: Path) -> list[str]:
    """Runs ``minireason demo`` into out_dir with the reduced budget; returns the command."""
    command = [sys.executable, "-m", "minireason", "demo", "--out-dir", str(out_dir), *DEMO_ARGUMENTS]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return ["minireason", *command[3:]]


def collect(run_dir: Path, command: list[str] | None) -> None:
    """Copies the run's plots into docs/figures and records where they came from."""
    missing = [name for name in PLOTS if not (run_dir / name).is_file()]
    if missing:
        sys.exit(f"error: {run_dir} has no {', '.join(missing)}: run the whole demo into it first")
    FIGURES.mkdir(exist_ok=True)
    for source, target in PLOTS.items():
        shutil.copyfile(run_dir / source, FIGURES / target)
    report = json.loads((run_dir / "report.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    provenance = {"command": command, "settings": run.get("settings"), "stages": report.get("stages"),
                  "targets": run.get("targets")}
    (FIGURES / "figures.json").write_text(json.dumps(provenance, indent=1, default=str) + "\n")
    for target in PLOTS.values():
        print(FIGURES / target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a finished demo folder to take the plots from")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/docs_figures"),
                        help="where the demo runs when --run is not given (default runs/docs_figures)")
    args = parser.parse_args(argv)
    if args.run is not None:
        collect(args.run, None)
        return
    command = run_demo(args.work_dir)
    collect(args.work_dir, command)


if __name__ == "__main__":
    main()
