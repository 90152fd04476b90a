"""The checkpoints shipped inside the package: they load by name and keep their measured accuracy."""

import json
from pathlib import Path

import pytest

import minireason
from minireason.io.pretrained import load_pretrained
from minireason.tasks.accuracy import task_accuracy

BUILTIN = Path(minireason.__file__).parent / "builtin"
NAMES = ("base", "student")


def test_shipped_checkpoints_fit_the_size_budget():
    total = sum(path.stat().st_size for path in BUILTIN.rglob("*") if path.is_file())
    assert total < 15 * 1024 * 1024, f"built-in checkpoints take {total / 2**20:.1f} MB, budget 15 MB"


@pytest.mark.parametrize("name", NAMES)
def test_builtin_model_loads_by_name(name):
    model, tokenizer = load_pretrained(f"builtin:{name}")
    assert model.config.vocab_size >= tokenizer.vocab_size
    assert tokenizer.decode(tokenizer.encode("Compute 12+34. Think step by step.\n")) == (
        "Compute 12+34. Think step by step.\n"
    )
    assert tokenizer.eos_token_id is not None


def test_base_is_larger_than_student():
    base, _ = load_pretrained("builtin:base")
    student, _ = load_pretrained("builtin:student")
    assert base.num_parameters() > 2 * student.num_parameters()


@pytest.mark.parametrize("name", NAMES)
def test_builtin_model_keeps_its_recorded_accuracy(name):
    """Greedy decoding on the fixed test-split sample recorded at training time.

    Decoding is deterministic, so the figures should repeat exactly; one problem of slack over
    the whole sample absorbs a near-tie flipped by a different BLAS summation order.
    """
    record = json.loads((BUILTIN / name / "accuracy.json").read_text())
    recorded = record["test_sample"]
    families = [family for family in recorded if not family.startswith("_")]
    model, tokenizer = load_pretrained(f"builtin:{name}")
    measured = task_accuracy(model, tokenizer, families, n=record["test_sample_n"], difficulty=record["difficulties"])
    n_total = record["test_sample_n"] * len(families)
    for style in ("direct", "cot"):
        recorded_correct = round(sum(recorded[f][style] for f in families) * record["test_sample_n"])
        measured_correct = round(sum(measured[f][style] for f in families) * record["test_sample_n"])
        assert measured_correct >= recorded_correct - 1, (
            f"builtin:{name} {style}: {measured_correct}/{n_total} correct, recorded {recorded_correct}/{n_total}"
        )
    if name == "base":  # the point of the base model: reasoning traces help it
        mean = {style: sum(measured[f][style] for f in families) / len(families) for style in ("direct", "cot")}
        assert mean["cot"] > mean["direct"] + 0.1, mean

