"""Tests of minireason.scaling: voting, early stop, scorers, refinement, pass@k / maj@k, and every
method end to end on a tiny random model.

Scripted tests use a fake sampler that returns hand-chosen completions, so each expected value
below is worked out by hand from the script, not produced by the code under test.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.errors import DataError, InputError
from minireason.scaling.best_of_n import best_of_n, heuristic_score
from minireason.scaling.metrics import majority_at_k, pass_at_k
from minireason.scaling.outcome import MethodOutcome, ScalingSettings
from minireason.scaling.runner import (
    format_table,
    parse_method,
    parse_methods,
    run_comparison,
    save_plot,
    summarize,
)
from minireason.scaling.sampler import Sample
from minireason.scaling.self_consistency import self_consistency
from minireason.scaling.self_refine import self_refine
from minireason.scaling.voting import can_be_overtaken, majority_vote

# ----------------------------------------------------------------------------- fakes


def boxed(answer: str) -> str:
    return f"<think>\nwork\n</think>\n\\boxed{{{answer}}}"


def last_box(text: str) -> str | None:
    """A minimal extractor for scripted texts: the content of the last \\boxed{...} (no nesting)."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    end = text.find("}", start)
    return text[start + len("\\boxed{"):end] if end > 0 else None


def string_equal(a: str, b: str) -> bool:
    return a == b


class ScriptedSampler:
    """Hands out scripted (text, mean_logprob, num_tokens) completions in order, one per prompt.

    ``scores`` maps completion text -> the score ``score()`` returns for it. Every call is logged.
    """

    def __init__(self, script, scores=None):
        self.script = list(script)
        self.scores = scores or {}
        self.sample_calls: list[tuple[list[str], float]] = []
        self.score_calls: list[list[str]] = []

    def sample(self, prompts, max_new_tokens, temperature, seed):
        self.sample_calls.append((list(prompts), temperature))
        out = []
        for _ in prompts:
            if not self.script:
                raise AssertionError("the method asked for more samples than were scripted")
            text, logprob, tokens = self.script.pop(0)
            out.append(Sample(text=text, num_tokens=tokens, mean_logprob=logprob))
        return out

    def score(self, prompts, completions):
        self.score_calls.append(list(completions))
        return [self.scores[text] for text in completions]


def scripted(answers, logprobs=None, tokens=10):
    logprobs = logprobs or [-1.0] * len(answers)
    return [(boxed(a) if a is not None else "no answer here", lp, tokens) for a, lp in zip(answers, logprobs)]


def plain_settings(**changes) -> ScalingSettings:
    return ScalingSettings(max_new_tokens=32, temperature=0.8, extract=last_box, equivalent=string_equal, **changes)


def judge(gold):
    return lambda answer: answer == gold

# ----------------------------------------------------------------------------- voting


def test_equivalent_answers_form_one_class_with_the_real_grader():
    from minireason.evaluation.grader import grade_answer

    vote = majority_vote(["3", "0.5", "1/2", "\\frac{1}{2}", None, "3.0"], equivalent=grade_answer)
    assert vote.answer == "0.5"
    assert vote.distribution == {"0.5": 3, "3": 2}
    assert vote.abstained == 1
    assert vote.labels == [1, 0, 0, 0, -1, 1]


def test_tie_goes_to_the_class_with_higher_mean_logprob():
    answers = ["7", "8", "8", "7"]
    # "7" members: -0.1, -0.3 (mean -0.2); "8" members: -2, -1 (mean -1.5)
    assert majority_vote(answers, [-0.1, -2.0, -1.0, -0.3], string_equal).answer == "7"
    # flip the confidences: "8" now has mean -0.2
    assert majority_vote(answers, [-2.0, -0.1, -0.3, -1.0], string_equal).answer == "8"
    vote = majority_vote(answers, [-2.0, -0.1, -0.3, -1.0], string_equal)
    assert vote.classes[0].mean_logprob == pytest.approx(-0.2)
    assert vote.classes[1].mean_logprob == pytest.approx(-1.5)


def test_majority_beats_confidence_and_none_does_not_vote():
    # one very confident "1" loses to two unsure "2"; three abstentions change nothing
    vote = majority_vote([None, "1", "2", None, "2", None], [0.0, -0.01, -5.0, 0.0, -5.0, 0.0], string_equal)
    assert vote.answer == "2"
    assert vote.distribution == {"2": 2, "1": 1}
    assert vote.abstained == 3
    empty = majority_vote([None, None], None, string_equal)
    assert empty.answer is None and empty.classes == [] and empty.labels == [-1, -1]


def test_majority_vote_rejects_mismatched_logprobs():
    with pytest.raises(InputError, match="one mean log-probability per answer"):
        majority_vote(["1", "2"], [0.0], string_equal)


def test_can_be_overtaken():
    vote = majority_vote(["a", "a", "a", "b"], None, string_equal)  # lead 3 - 1 = 2
    assert can_be_overtaken(vote, 2)  # b could reach 3: a tie, decided by log-probs
    assert not can_be_overtaken(vote, 1)
    assert not can_be_overtaken(majority_vote(["a"], None, string_equal), 0)
    assert can_be_overtaken(majority_vote([None], None, string_equal), 1)

# ----------------------------------------------------------------------------- self-consistency


def test_self_consistency_votes_over_all_samples():
    sampler = ScriptedSampler(scripted(["4", "5", "4", None]))
    outcome = self_consistency(sampler, "2+2?", judge("4"), plain_settings(), num_samples=4)
    assert outcome.answer == "4" and outcome.correct
    assert len(sampler.sample_calls) == 1 and len(sampler.sample_calls[0][0]) == 4  # one batch of 4
    assert sampler.sample_calls[0][1] == 0.8
    assert outcome.compute["samples"] == 4 and outcome.compute["generated_tokens"] == 40
    assert outcome.details["sample_correct"] == [True, False, True, False]
    assert outcome.details["vote_distribution"] == {"4": 2, "5": 1}
    assert outcome.details["samples_saved"] == 0


def test_early_stop_when_the_leader_cannot_be_overtaken():
    # N=8 in rounds of 2, all agree: after 2 drawn lead 2 <= 6 left; after 4, 4 <= 4; after 6, 6 > 2: stop
    sampler = ScriptedSampler(scripted(["9"] * 8))
    outcome = self_consistency(sampler, "p", judge("9"), plain_settings(), num_samples=8, early_stop=True,
                               round_size=2)
    assert outcome.details["samples_drawn"] == 6
    assert outcome.details["samples_saved"] == 2
    assert outcome.details["tokens_saved_estimate"] == 20
    assert outcome.compute["generated_tokens"] == 60
    assert [len(prompts) for prompts, _ in sampler.sample_calls] == [2, 2, 2]


def test_early_stop_draws_everything_while_the_vote_is_close():
    sampler = ScriptedSampler(scripted(["1", "2"] * 4))
    outcome = self_consistency(sampler, "p", judge("1"), plain_settings(), num_samples=8, early_stop=True,
                               round_size=2)
    assert outcome.details["samples_drawn"] == 8 and outcome.details["samples_saved"] == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=12),
       st.lists(st.floats(-5, 0), min_size=12, max_size=12), st.integers(1, 4))
def test_early_stop_never_changes_the_answer(answers, logprobs, round_size):
    script = scripted(answers, logprobs[:len(answers)])
    full = self_consistency(ScriptedSampler(script), "p", judge("a"), plain_settings(), len(answers))
    early = self_consistency(ScriptedSampler(script), "p", judge("a"), plain_settings(), len(answers),
                             early_stop=True, round_size=round_size)
    assert early.answer == full.answer
    assert early.details["samples_drawn"] + early.details["samples_saved"] == len(answers)

# ----------------------------------------------------------------------------- best-of-N


def test_best_of_n_scorers_pick_by_hand():
    script = [(boxed("5"), -0.2, 40), ("the answer is 6", -0.1, 10), (boxed("6"), -0.9, 20), (boxed("7"), -0.5, 5)]
    def pick(scorer):
        return best_of_n(ScriptedSampler(script), "p", judge("6"), plain_settings(), 4, scorer=scorer)

    # logprob: sample 1 (-0.1) is the most confident, though it has no boxed answer
    by_logprob = pick("logprob")
    assert by_logprob.details["chosen"] == 1 and by_logprob.answer is None and not by_logprob.correct
    # heuristic: boxed ones score 1 + 0.25/(1 + tokens/100): 5 tokens (sample 3) is the shortest boxed
    by_heuristic = pick("heuristic")
    assert by_heuristic.details["chosen"] == 3 and by_heuristic.answer == "7"
    # oracle: the one correct sample
    by_oracle = pick("oracle")
    assert by_oracle.details["chosen"] == 2 and by_oracle.correct
    assert by_oracle.details["sample_correct"] == [False, False, True, False]
    assert by_oracle.compute["generated_tokens"] == 75
    with pytest.raises(InputError, match="scorer"):
        pick("magic")


def test_heuristic_prefers_a_boxed_answer_then_brevity():
    long_boxed = Sample(text=boxed("1"), num_tokens=300, mean_logprob=-1.0)
    short_boxed = Sample(text=boxed("1"), num_tokens=10, mean_logprob=-1.0)
    short_plain = Sample(text="1", num_tokens=1, mean_logprob=-1.0)
    assert heuristic_score(long_boxed, "1", judge("1")) > heuristic_score(short_plain, "1", judge("1"))
    assert heuristic_score(short_boxed, "1", judge("1")) > heuristic_score(long_boxed, "1", judge("1"))
    assert heuristic_score(short_plain, "1", judge("1")) > heuristic_score(short_plain, None, judge("1"))
    # 1 for the box + 0.25 / (1 + 10 / 100)
    assert heuristic_score(short_boxed, "1", judge("1")) == pytest.approx(1 + 0.25 / 1.1)

# ----------------------------------------------------------------------------- self-refinement


def test_refine_accepts_only_higher_scoring_revisions():
    draft, critique1, revision1, critique2, revision2 = boxed("3"), "step 2 is wrong", boxed("4"), "fine", boxed("5")
    script = [(draft, -1, 10), (critique1, -1, 7), (revision1, -1, 11), (critique2, -1, 3), (revision2, -1, 12)]
    sampler = ScriptedSampler(script, scores={draft: -1.0, revision1: -0.5, revision2: -0.7})
    outcome = self_refine(sampler, "p", judge("4"), plain_settings(), rounds=2)
    # round 1: -0.5 > -1.0 accepted; round 2: -0.7 < -0.5 rejected
    assert [step["accepted"] for step in outcome.details["history"]] == [True, False]
    assert outcome.answer == "4" and outcome.correct
    assert outcome.details["draft_answer"] == "3" and not outcome.details["draft_correct"]
    assert outcome.compute["generated_tokens"] == 10 + 7 + 11 + 3 + 12
    assert outcome.compute["samples"] == 5
    # the draft and critiques are greedy, the revisions sampled
    assert [temperature for _, temperature in sampler.sample_calls] == [0.0, 0.0, 0.8, 0.0, 0.8]
    # the second critique reviews the accepted revision
    assert revision1.strip() in sampler.sample_calls[3][0][0]


def test_refine_with_zero_rounds_is_the_greedy_draft():
    sampler = ScriptedSampler([(boxed("2"), -1, 4)], scores={boxed("2"): -1.0})
    outcome = self_refine(sampler, "p", judge("2"), plain_settings(), rounds=0)
    assert outcome.answer == "2" and outcome.details["history"] == []

# ----------------------------------------------------------------------------- metrics


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """Enumerate every k-subset of n samples (the first c correct): the share holding a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(i < c for i in subset) for subset in subsets), len(subsets))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_enumeration(case):
    n, c, k = case
    assert pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), abs=1e-12)


def test_pass_at_k_known_values_and_large_n():
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0  # only 4 wrong: every 5-subset has a correct one
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)  # C(2,2)/C(4,2)
    # 1 - C(9990, 100) / C(10000, 100), far beyond float binomials, finite and in (0, 1)
    value = pass_at_k(10000, 10, 100)
    expected = 1 - math.exp(math.lgamma(9991) - math.lgamma(9891) - math.lgamma(10001) + math.lgamma(9901))
    assert value == pytest.approx(expected, rel=1e-9)
    for bad in [(0, 0, 1), (3, 4, 1), (3, 1, 4), (3, 1, 0)]:
        with pytest.raises(InputError):
            pass_at_k(*bad)


def test_majority_at_k_by_hand():
    labels = [0, 0, 1]  # class 0 is right
    assert majority_at_k(labels, {0}, 1) == pytest.approx(2 / 3)
    assert majority_at_k(labels, {0}, 3) == 1.0
    # k=2: {0,0} -> 0 right; {0,1} twice -> a tie decided by class score
    assert majority_at_k(labels, {0}, 2, class_scores=[0.0, 1.0]) == pytest.approx(1 / 3)
    assert majority_at_k(labels, {0}, 2, class_scores=[1.0, 0.0]) == 1.0
    assert majority_at_k([-1, -1, 0], {0}, 1) == pytest.approx(1 / 3)  # abstentions never win

# ----------------------------------------------------------------------------- method names


def test_parse_methods():
    specs = parse_methods("greedy, cot,sc@16:early,bon@8:oracle,refine@2")
    assert [s.label for s in specs] == ["greedy", "cot", "sc@16:early", "bon@8:oracle", "refine@2"]
    assert (specs[2].kind, specs[2].size, specs[2].option) == ("sc", 16, "early")
    for bad in ["sc", "sc@0", "sc@x", "greedy@2", "bon@4:magic", "vote@3", "", "cot,cot"]:
        with pytest.raises(InputError):
            parse_methods(bad)
    assert parse_method("refine@0").size == 0

def test_summary_rows_by_hand():
    def outcome(correct, tokens, sample_correct=None):
        details = {"sample_correct": sample_correct} if sample_correct is not None else {}
        return MethodOutcome(answer="1", correct=correct, completion="", details=details,
                             compute={"generated_tokens": tokens, "scored_tokens": 0, "samples": 4, "seconds": 0.5})

    row = summarize("sc@4", [outcome(True, 100, [True, False, False, False]), outcome(False, 60, [False] * 4)])
    assert row.accuracy == 0.5 and row.tokens_per_problem == 80 and row.seconds_per_problem == 0.5
    assert row.pass_at_1 == pytest.approx((1 / 4 + 0) / 2) and row.pass_at_n == pytest.approx(0.5)
    plain = summarize("cot", [outcome(True, 10)])
    assert plain.pass_at_1 is None and plain.pass_at_n is None
    table = format_table([row, plain])
    assert "12.5%" in table and "50.0%" in table and table.splitlines()[-1].startswith("cot")


# ----------------------------------------------------------------------------- end to end, tiny random model


@pytest.fixture(scope="module")
def tiny_model_and_tokenizer():
    from minireason.config import PRESETS
    from minireason.io.bpe_trainer import train_bpe
    from minireason.model import Qwen3Model

    texts = ["Compute 12+34. Think step by step.\n", "<think>\n2+4+0=6, 6\n</think>\n\\boxed{46}"] * 3
    tokenizer = train_bpe(texts, vocab_size=300)
    config = PRESETS["test-tiny"].replace(vocab_size=tokenizer.vocab_size)
    return Qwen3Model.from_config(config, seed=0), tokenizer


RECORDS = [{"problem": "Compute 12+34.", "answer": "46"}, {"problem": "Compute 5+8.", "answer": "13"}]


def run_tiny(model_and_tokenizer, methods, tmp_path, seed=0, name="records.jsonl"):
    from minireason.scaling.sampler import ModelSampler

    model, tokenizer = model_and_tokenizer
    sampler = ModelSampler(model, tokenizer)
    settings_ = ScalingSettings(max_new_tokens=6, temperature=1.0)
    rows = run_comparison(sampler, RECORDS, parse_methods(methods), settings_, seed=seed,
                          records_path=tmp_path / name)
    lines = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
    return rows, lines


def test_every_method_end_to_end_on_a_tiny_model(tiny_model_and_tokenizer, tmp_path):
    methods = "greedy,cot,sc@3,sc@4:early,bon@3,bon@2:heuristic,bon@2:oracle,refine@1"
    rows, lines = run_tiny(tiny_model_and_tokenizer, methods, tmp_path)
    assert [row.method for row in rows] == methods.split(",")
    assert len(lines) == len(rows) * len(RECORDS)
    for row in rows:
        assert row.tokens_per_problem > 0 and row.seconds_per_problem > 0 and 0 <= row.accuracy <= 1
    by_method = {row.method: row for row in rows}
    assert by_method["greedy"].samples_per_problem == 1 and by_method["cot"].samples_per_problem == 1
    assert by_method["sc@3"].samples_per_problem == 3
    assert by_method["bon@3"].samples_per_problem == 3
    assert by_method["refine@1"].samples_per_problem == 3  # draft, critique, revision
    assert by_method["sc@4:early"].samples_per_problem + by_method["sc@4:early"].samples_saved / 2 == 4
    for line in lines:
        assert line["generated_tokens"] > 0 and line["seconds"] > 0
        # a random model rarely stops early: never more than max_new_tokens per sample
        assert line["generated_tokens"] <= 6 * line["samples"]
        if line["method"] == "sc@3":
            assert len(line["details"]["answers"]) == 3 and len(line["details"]["sample_correct"]) == 3
    # the oracle's pick is right whenever any of its samples is
    for line in lines:
        if line["method"] == "bon@2:oracle":
            assert line["correct"] == any(line["details"]["sample_correct"])


def test_runs_are_deterministic_per_seed(tiny_model_and_tokenizer, tmp_path):
    def texts(lines):
        return [(line["method"], line["completion"], line["generated_tokens"]) for line in lines]

    _, first = run_tiny(tiny_model_and_tokenizer, "sc@3,bon@2", tmp_path, seed=5, name="a.jsonl")
    _, again = run_tiny(tiny_model_and_tokenizer, "sc@3,bon@2", tmp_path, seed=5, name="b.jsonl")
    _, other = run_tiny(tiny_model_and_tokenizer, "sc@3,bon@2", tmp_path, seed=6, name="c.jsonl")
    assert texts(first) == texts(again)
    assert [line["details"]["answers"] for line in first] == [line["details"]["answers"] for line in again]
    assert texts(first) != texts(other)


def test_model_sampler_score_matches_generation_logprobs(tiny_model_and_tokenizer):
    """Teacher-forced scoring of a greedy completion gives the log-probs generation reported."""
    from minireason.generation.generate import generate
    from minireason.scaling.sampler import ModelSampler

    model, tokenizer = tiny_model_and_tokenizer
    prompt = "Compute 12+34."
    result = generate(model, tokenizer, [prompt], 5, stop_token_ids=[])[0]
    # re-encoding must give back the same ids for the comparison to be exact
    assert tokenizer.encode(result.text) == result.token_ids
    score = ModelSampler(model, tokenizer).score([prompt], [result.text])[0]
    assert score == pytest.approx(float(result.logprobs.mean()), abs=1e-5)


def test_bad_problem_records_are_refused(tiny_model_and_tokenizer):
    with pytest.raises(DataError, match="answer"):
        run_comparison(object(), [{"problem": "x"}], parse_methods("greedy"), plain_settings())


def test_plot_is_a_png(tmp_path, tiny_model_and_tokenizer):
    rows, _ = run_tiny(tiny_model_and_tokenizer, "greedy,sc@2", tmp_path)
    path = save_plot(rows, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scale_command_end_to_end(tiny_model_and_tokenizer, tmp_path, capsys):
    from minireason.cli.main import main
    from minireason.io.pretrained import save_pretrained

    model, tokenizer = tiny_model_and_tokenizer
    save_pretrained(tmp_path / "model", model, tokenizer)
    out_dir = tmp_path / "out"
    code = main(["scale", "--model", str(tmp_path / "model"), "--data", "task:addition?n=3&split=test",
                 "--methods", "greedy,sc@2", "--limit", "2", "--max-new-tokens", "4", "--prompt-format", "plain",
                 "--out-dir", str(out_dir), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "greedy" in printed and "sc@2" in printed and "accuracy" in printed
    lines = (out_dir / "records.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 2
    assert (out_dir / "accuracy_vs_tokens.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out_dir / "summary.json").read_text())
    assert [row["method"] for row in summary["rows"]] == ["greedy", "sc@2"]
    assert summary["problems"] == 2
    # the records say what made them: the manifest beside them, and the same one in the summary
    manifest = json.loads((out_dir / "records.jsonl.manifest.json").read_text())
    assert manifest == summary["manifest"] and manifest["command"] == "scale"
    assert manifest["identity"]["methods"] == ["greedy", "sc@2"] and manifest["identity"]["seed"] == 0
    assert manifest["identity"]["problems"] == 2 and manifest["run"]["arguments"]["max_new_tokens"] == 4
    from minireason.identity import weights_sha256

    assert manifest["identity"]["model_sha256"] == weights_sha256(model.params)
    # a bad method name fails before any model is loaded, with the name in the message
    assert main(["scale", "--model", "nowhere", "--data", "x", "--methods", "vote@3"]) == 1
    assert "vote@3" in capsys.readouterr().err


def test_every_method_on_the_builtin_model_when_it_is_installed(tmp_path):
    """Same structure checks on builtin:base (skipped until the built-in model is shipped)."""
    from minireason.errors import CheckpointError
    from minireason.io.pretrained import load_pretrained
    from minireason.scaling.sampler import ModelSampler
    from minireason.tasks.export import resolve_data

    try:
        model, tokenizer = load_pretrained("builtin:base")
    except CheckpointError:
        pytest.skip("builtin:base is not installed yet")
    records = resolve_data("task:addition?n=1&split=test&seed=0")
    settings_ = ScalingSettings(max_new_tokens=96, temperature=0.8)
    specs = parse_methods("greedy,cot,sc@2,bon@2,refine@1")
    results = []
    for name in ("a.jsonl", "b.jsonl"):
        rows = run_comparison(ModelSampler(model, tokenizer), records, specs, settings_, seed=3,
                              records_path=tmp_path / name)
        results.append([json.loads(line) for line in (tmp_path / name).read_text().splitlines()])
        assert all(row.tokens_per_problem > 0 for row in rows)
        assert {row.method: row.samples_per_problem for row in rows}["sc@2"] == 2
    assert [(line["completion"], line["correct"]) for line in results[0]] == \
           [(line["completion"], line["correct"]) for line in results[1]]
    # a trained model ends its completions itself: the boxed answer, then eos, well before the limit
    cot_lines = [line for line in results[0] if line["method"] == "cot"]
    assert all("\\boxed{" in line["completion"] for line in cot_lines)


# ----------------------------------------------------------------------------- written files and limits


def test_records_manifest_names_the_methods_seed_and_data(tmp_path):
    sampler = ScriptedSampler([(boxed("46"), -1.0, 3), (boxed("12"), -1.0, 3)])
    run_comparison(sampler, RECORDS, parse_methods("greedy"), plain_settings(), seed=4,
                   records_path=tmp_path / "r.jsonl")
    manifest = json.loads((tmp_path / "r.jsonl.manifest.json").read_text())
    identity = manifest["identity"]
    assert identity["methods"] == ["greedy"] and identity["seed"] == 4 and identity["problems"] == 2
    assert identity["model_sha256"] is None and identity["sampler"] == "ScriptedSampler"
    assert identity["extract"] == "last_box" and identity["equivalent"] == "string_equal"
    other = run_comparison(ScriptedSampler([(boxed("46"), -1.0, 3)] * 2), RECORDS[::-1], parse_methods("greedy"),
                           plain_settings(), seed=4, records_path=tmp_path / "s.jsonl")
    assert other and json.loads((tmp_path / "s.jsonl.manifest.json").read_text())["identity"]["data_sha256"] \
        != identity["data_sha256"]


def test_records_path_a_directory_is_refused_and_a_symlink_is_followed(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        run_comparison(ScriptedSampler([]), RECORDS, parse_methods("greedy"), plain_settings(),
                       records_path=tmp_path)
    target = tmp_path / "kept" / "records.jsonl"
    target.parent.mkdir()
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    sampler = ScriptedSampler([(boxed("46"), -1.0, 3), (boxed("13"), -1.0, 3)])
    run_comparison(sampler, RECORDS, parse_methods("greedy"), plain_settings(), records_path=link)
    assert link.is_symlink() and len(target.read_text().splitlines()) == 2
    assert (target.parent / "records.jsonl.manifest.json").is_file()


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_summary_and_plot_get_the_usual_mode_and_follow_symlinks(tmp_path, mask):
    import os
    import stat

    from minireason.scaling.runner import write_summary

    rows = [summarize("greedy", [MethodOutcome(answer="1", correct=True, completion="x",
                                               compute={"generated_tokens": 3, "seconds": 0.1, "samples": 1})])]
    previous = os.umask(mask)
    try:
        summary = write_summary(rows, tmp_path / "summary.json", extra={"seed": 1})
        plot = save_plot(rows, tmp_path / "plot.png")
    finally:
        os.umask(previous)
    for path in (summary, plot):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert json.loads(summary.read_text())["rows"][0]["method"] == "greedy"
    (tmp_path / "published.json").write_text("old")
    (tmp_path / "summary-link.json").symlink_to(tmp_path / "published.json")
    write_summary(rows, tmp_path / "summary-link.json")
    assert (tmp_path / "summary-link.json").is_symlink()
    assert json.loads((tmp_path / "published.json").read_text())["rows"][0]["accuracy"] == 1.0
    with pytest.raises(InputError, match="is a directory"):
        write_summary(rows, tmp_path)


def test_method_sizes_are_capped_in_the_parser():
    from minireason.scaling.runner import MAX_METHOD_SIZE

    assert parse_method(f"sc@{MAX_METHOD_SIZE}").size == MAX_METHOD_SIZE
    for text in (f"sc@{MAX_METHOD_SIZE + 1}", "bon@99999999", "refine@" + "9" * 5000):
        with pytest.raises(InputError, match=f"at most {MAX_METHOD_SIZE:,}"):
            parse_method(text)
    for text in ("sc@\u00b2", "sc@\u0663"):  # a superscript two, an Arabic-Indic three: not ASCII digits
        with pytest.raises(InputError, match="whole number"):
            parse_method(text)


def test_model_sampler_samples_do_not_depend_on_its_batch_size():
    from minireason.io.pretrained import load_pretrained
    from minireason.scaling.sampler import ModelSampler

    model, tokenizer = load_pretrained("builtin:student")
    prompts = [f"Compute {a}+{b}. Think step by step.\n" for a, b in [(12, 7), (40, 3), (5, 5), (81, 9), (3, 60)]]
    texts = {size: [s.text for s in ModelSampler(model, tokenizer, batch_size=size).sample(prompts, 24, 1.0, 7)]
             for size in (1, 2, 5)}
    assert texts[1] == texts[2] == texts[5]


def test_each_method_is_paired_against_the_greedy_chain_problem_by_problem():
    # problem 0 (46): greedy wrong, cot right; problem 1 (13): greedy right, cot wrong
    sampler = ScriptedSampler([(boxed("45"), -1.0, 3), (boxed("13"), -1.0, 3),
                               (boxed("46"), -1.0, 3), (boxed("12"), -1.0, 3)])
    rows = run_comparison(sampler, RECORDS, parse_methods("greedy,cot"), plain_settings())
    greedy, cot = rows
    assert cot.paired is None  # the baseline
    assert greedy.paired["baseline"] == "cot"
    assert (greedy.paired["gained"], greedy.paired["lost"]) == (1, 1)  # cot -> greedy: gains 13, loses 46
    assert greedy.paired["accuracy_before"] == cot.accuracy == 0.5
    assert "greedy vs cot: 50.0% -> 50.0% (+0.0 points) on 2 problems: 1 gained, 1 lost" in format_table(rows)
    alone = run_comparison(ScriptedSampler([(boxed("46"), -1.0, 3), (boxed("12"), -1.0, 3)] * 2), RECORDS,
                           parse_methods("greedy,sc@1"), plain_settings())
    assert alone[0].paired is None and alone[1].paired["baseline"] == "greedy"  # no cot: the first method
