"""``minireason demo``: the project's first command, every stage of a reasoning model, live and measured.

    minireason demo                        # every stage (a few minutes on 2 cores)
    minireason demo --quick                # every stage on a reduced budget (under a minute)
    minireason demo --stage grpo           # one stage: generation, direct, scaling, grpo, distillation

Decode speed with and without the KV cache; direct answers; chain of thought, self-consistency,
best-of-N and self-refinement against the tokens they spend; GRPO before and after; the student
distilled from the base model against the student as shipped.  Progress goes to stderr; the results
table, the demo's targets against what was measured, and the output folder (report.json, run.json,
the plots, each stage's folder) go to stdout.  A thin layer over :func:`minireason.demo.run_demo`.
"""

from __future__ import annotations

from pathlib import Path

from minireason.cli import arguments
from minireason.demo import STAGES, DemoSettings, format_rows, run_demo, stderr_log
from minireason.errors import InputError


def add_arguments(parser) -> None:
    """Adds the options of ``minireason demo`` to its parser."""
    full, quick = DemoSettings(), DemoSettings.quick()

    def both(name: str) -> str:
        return f"(default {getattr(full, name)}; {getattr(quick, name)} with --quick)"

    parser.add_argument("--stage", choices=STAGES, action="append", default=None,
                        help="run only this stage (repeat the flag for several); default: all, in order")
    parser.add_argument("--quick", action="store_true",
                        help="every stage on a reduced budget (under a minute on 2 cores; what CI runs)")
    parser.add_argument("--out-dir", default="runs/demo", help="where report.json, run.json and the plots go")
    parser.add_argument("--model", default=None, help=f"the base model (default {full.model})")
    parser.add_argument("--student", default=None,
                        help=f"the student of the distillation stage (default {full.student})")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="held-out problems of every held-out accuracy: the first N of the held-out set "
                             + both("held_out"))
    arguments.add_hidden_alias(parser, "--problems", type=arguments.positive_int, default=None)
    parser.add_argument("--scaling-problems", type=arguments.positive_int, default=None,
                        help="problems of the sampled scaling methods (the first N held-out ones) "
                             + both("scaling_problems"))
    parser.add_argument("--methods", default=None,
                        help="the sampled scaling methods (see minireason scale) " + both("scaling_methods"))
    parser.add_argument("--temperature", type=float, default=None,
                        help=f"of the sampled scaling methods (default {full.temperature})")
    parser.add_argument("--grpo-steps", type=arguments.positive_int, default=None,
                        help="training steps of the GRPO stage " + both("grpo_steps"))
    parser.add_argument("--distill-steps", type=arguments.positive_int, default=None,
                        help="training steps of the distillation stage " + both("distill_steps"))
    parser.add_argument("--seed", type=arguments.seed, default=None,
                        help=f"of sampling and training (>= 0; default {full.seed})")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    arguments.add_hidden_alias(parser, "--quiet", dest="no_progress", action="store_true")


def problem_count(problems: int | None, limit: int | None) -> int | None:
    """--limit and its old spelling --problems both say how many problems; one is enough."""
    if problems is not None and limit is not None and problems != limit:
        raise InputError(f"--limit {limit} and --problems {problems} (its old spelling) both say how many "
                         f"problems; give one")
    return next((n for n in (problems, limit) if n is not None), None)


def settings_from(args):
    """DemoSettings from the flags: the full or quick budget, with the flags given on top."""
    overrides = {key: value for key, value in {
        "model": args.model, "student": args.student, "held_out": problem_count(args.problems, args.limit),
        "scaling_problems": args.scaling_problems, "scaling_methods": args.methods,
        "temperature": args.temperature, "grpo_steps": args.grpo_steps, "distill_steps": args.distill_steps,
        "seed": args.seed}.items() if value is not None}
    if "held_out" in overrides:  # fewer held-out problems than the default subsets: the subsets shrink too
        defaults = DemoSettings.quick() if args.quick else DemoSettings()
        for name in ("scaling_problems", "generation_prompts"):
            overrides.setdefault(name, min(getattr(defaults, name), overrides["held_out"]))
    return DemoSettings.quick(**overrides) if args.quick else DemoSettings(**overrides)


def run(args) -> int:
    """Runs ``minireason demo`` on the parsed arguments; returns the exit status (0 on success)."""
    settings = settings_from(args)
    budget = "quick" if args.quick else "full"
    print(f"minireason demo ({budget}): {settings.model} on held-out {settings.held_out_data()}", flush=True)
    report = run_demo(settings, args.stage, args.out_dir, log=None if args.no_progress else stderr_log)
    print()
    print(format_rows(report.rows))
    print()
    if args.quick:
        print("quick budget: the same code paths on figures too small to judge; the targets are the full demo's")
    for target in report.targets if not args.quick else ():
        if target["met"] is None:
            continue
        verdict = "met" if target["met"] else "MISSED"
        print(f"target {target['target']}: {target['measured_points']:+.1f} points ({verdict})")
    plots = "".join(f", {Path(path).name}" for path in report.plots.values())
    print(f"\n{report.total_seconds:.1f} s in all. Output folder: {report.out_dir} (report.json, run.json{plots})")
    return 0
