"""minireason.posttrain.sft, distill and dpo, and the sft / distill / dpo / distill-data / dpo-data commands: exact resume
of each method (on-policy sampling included), micro-batch accumulation equal to one batch, the shared-
tokenizer check, bad settings, SFT end to end on the real teacher traces with a tiny random Qwen3-layout
model and a Qwen-layout tokenizer, and the commands writing the run files that `minireason plot` reads."""

import json

import numpy as np
import pytest
from paths import SHARED_DATA

from minireason.cli.main import main
from minireason.config import ModelConfig
from minireason.errors import CheckpointError, ConfigError, DataError, InputError
from minireason.io.bpe_trainer import train_bpe
from minireason.io.chat_template import split_reasoning
from minireason.io.pretrained import load_pretrained
from minireason.io.tokenizer import Tokenizer
from minireason.model import Qwen3Model
from minireason.posttrain.data import load_pairs, load_sequences
from minireason.posttrain.distill import DistillConfig, DistillTrainer, train_distill
from minireason.posttrain.dpo import DPOConfig, PreferenceTrainer, train_dpo
from minireason.posttrain.sft import SequenceTrainer, SFTConfig, train_sft
from minireason.tasks import flawed_copy, generate_problems
from minireason.training.metrics import read_metrics

SHARED_TRACES = SHARED_DATA / "sample_openrouter_outputs.json"
FAST = dict(warmup_steps=0, schedule="constant", eval_every=0, validation_fraction=0.25, checkpoint_every=100,
            max_new_tokens=24)


@pytest.fixture(scope="module")
def problems():
    return generate_problems("addition", 24, split="train", difficulty=2, seed=1)


@pytest.fixture(scope="module")
def traces(problems):
    records = []
    for problem in problems:
        thinking, content = split_reasoning(problem.trace_completion)
        records.append({"problem": problem.text, "message_thinking": thinking, "message_content": content})
    return records


@pytest.fixture(scope="module")
def pairs(problems):
    return [{"prompt": problem.text + " Think step by step.\n", "chosen": problem.trace_completion,
             "rejected": flawed_copy(problem, seed=index).trace_completion} for index, problem in enumerate(problems)]


def load(name):
    return load_pretrained(f"builtin:{name}")


def run_method(method, out_dir, steps, traces, pairs, resume=True, **changes):
    model, tokenizer = load("student")
    if method == "sft":
        config = SFTConfig(steps=steps, batch_size=4, micro_batch_size=3, learning_rate=3e-3, **FAST, **changes)
        return model, train_sft(model, tokenizer, traces, config, out_dir, resume=resume, progress=False)
    if method == "distill":
        teacher, teacher_tokenizer = load("base")
        config = DistillConfig(steps=steps, batch_size=4, micro_batch_size=3, learning_rate=3e-3, loss="jsd",
                               beta=0.3, temperature=1.5, top_k=16, lambda_on_policy=0.5, **FAST, **changes)
        return model, train_distill(model, tokenizer, teacher, teacher_tokenizer, traces, config, out_dir,
                                    resume=resume, progress=False)
    config = DPOConfig(steps=steps, batch_size=4, micro_batch_size=3, learning_rate=1e-3, beta=0.5, **FAST,
                       **changes)
    return model, train_dpo(model, tokenizer, pairs, config, out_dir, resume=resume, progress=False)


@pytest.mark.parametrize("method", ["sft", "distill", "dpo"])
def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(method, traces, pairs, tmp_path):
    straight, history = run_method(method, tmp_path / "straight", 6, traces, pairs)
    run_method(method, tmp_path / "resumed", 3, traces, pairs)
    resumed, resumed_history = run_method(method, tmp_path / "resumed", 6, traces, pairs)
    assert resumed_history["summary"]["resumed_from"] == 3
    for name, value in straight.params.items():
        assert np.array_equal(value, resumed.params[name]), name
    losses = [row["loss"] for row in history["metrics"]]
    assert [row["loss"] for row in read_metrics(tmp_path / "resumed" / "metrics.jsonl")] == losses
    if method == "distill":
        assert {row["on_policy"] for row in history["metrics"]} == {0, 1}  # both kinds of step ran
        assert all(row["kl_teacher_student"] > 0 for row in history["metrics"])
    if method == "dpo":
        assert all(0 <= row["preference_accuracy"] <= 1 for row in history["metrics"])
    evaluations = history["eval"]
    assert [row["step"] for row in evaluations] == [0, 6] and "validation_loss" in evaluations[0]
    assert (tmp_path / "straight" / "final" / "model.safetensors").exists()
    with pytest.raises(CheckpointError, match="another run"):
        run_method(method, tmp_path / "resumed", 7, traces, pairs, seed=9)


def accumulated_gradient(trainer, model, seed):
    applied = {}

    def apply_update(grads):
        applied.update(grads)
        return 0.0

    trainer.step(model, np.random.default_rng(seed), 0, apply_update)
    return applied


@pytest.mark.parametrize("method", ["sft", "distill", "dpo"])
def test_micro_batches_add_up_to_the_batchs_gradient(method, traces, pairs):
    student, tokenizer = load("student")
    model = student.astype("float64")
    teacher = load("base")[0].astype("float64")
    gradients = []
    for micro in (7, 2):
        if method == "dpo":
            train, validation, _ = load_pairs(pairs, tokenizer, validation_fraction=0.0)
            config = DPOConfig(steps=1, batch_size=7, micro_batch_size=micro, beta=0.5)
            trainer = PreferenceTrainer(model, tokenizer, train, validation, config)
        else:
            train, validation, _ = load_sequences(traces, tokenizer, validation_fraction=0.0)
            config = (SFTConfig if method == "sft" else DistillConfig)(steps=1, batch_size=7, micro_batch_size=micro)
            trainer = (SequenceTrainer(model, tokenizer, train, validation, config) if method == "sft" else
                       DistillTrainer(model, tokenizer, train, validation, config, teacher))
        gradients.append(accumulated_gradient(trainer, model, seed=4))
    for name, value in gradients[0].items():
        np.testing.assert_allclose(gradients[1][name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    assert any(np.abs(value).max() > 0 for value in gradients[0].values())


def test_teacher_and_student_must_share_a_tokenizer(traces, tmp_path):
    student, tokenizer = load("student")
    teacher, _ = load("base")
    spec = tokenizer.to_dict()
    vocab = spec["model"]["vocab"]
    vocab["a"], vocab["b"] = vocab["b"], vocab["a"]  # the same size, two tokens swapped
    other = Tokenizer.from_dict(spec)
    assert other.vocab_size == tokenizer.vocab_size
    with pytest.raises(ConfigError, match="share a tokenizer: their vocabularies differ"):
        train_distill(student, tokenizer, teacher, other, traces, DistillConfig(steps=1), tmp_path, progress=False)
    config = ModelConfig(vocab_size=tokenizer.vocab_size + 5, hidden_size=8, intermediate_size=12,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=4)
    wider = Qwen3Model.from_config(config)
    with pytest.raises(ConfigError, match=f"{tokenizer.vocab_size} logits per position, the teacher {tokenizer.vocab_size + 5}"):
        train_distill(student, tokenizer, wider, tokenizer, traces, DistillConfig(steps=1), tmp_path, progress=False)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(InputError, match="loss must be one of fkl, rkl, jsd, got 'kl'"):
        DistillConfig(loss="kl")
    with pytest.raises(InputError, match="jsd beta"):
        DistillConfig(loss="jsd", beta=0.0)
    with pytest.raises(InputError, match="lambda_on_policy"):
        DistillConfig(lambda_on_policy=1.5)
    with pytest.raises(InputError, match="loss must be one of sigmoid, ipo"):
        DPOConfig(loss="hinge")
    with pytest.raises(InputError, match="unknown setting"):
        SFTConfig.from_dict({"stepz": 3})
    with pytest.raises(InputError, match="schedule"):
        SFTConfig(schedule="linear")


@pytest.mark.skipif(not SHARED_TRACES.exists(), reason="sample_openrouter_outputs.json absent")
def test_sft_on_the_real_teacher_traces_with_a_tiny_qwen3_layout_model(tmp_path):
    records = json.loads(SHARED_TRACES.read_text())
    tokenizer = train_bpe([record["problem"] + record["message_thinking"] + record["message_content"]
                           for record in records], vocab_size=600)
    assert tokenizer.token_to_id("<|im_end|>") is not None and tokenizer.token_to_id("<think>") is not None
    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=4096,
                         tie_word_embeddings=True, eos_token_id=tokenizer.token_to_id("<|im_end|>"))
    model = Qwen3Model.from_config(config, seed=0)
    sft = SFTConfig(steps=4, batch_size=2, micro_batch_size=1, max_tokens=4000, learning_rate=2e-2, warmup_steps=0,
                    validation_fraction=0.2, eval_every=2, prompt_format="chat", checkpoint_every=2)
    history = train_sft(model, tokenizer, SHARED_TRACES, sft, tmp_path / "run", progress=False)
    report = history["data"]
    assert report.records == 5 and report.malformed == 0 and report.train + report.validation == 5
    assert report.validation >= 1
    validation = [row["validation_loss"] for row in history["eval"]]
    assert [row["step"] for row in history["eval"]] == [0, 2, 4]
    assert validation[0] == pytest.approx(np.log(tokenizer.vocab_size), rel=0.05)  # a random model: ~uniform
    assert validation[-1] < validation[0] - 0.3
    assert len(history["metrics"]) == 4 and all(row["tokens"] > 500 for row in history["metrics"])
    reloaded, _ = load_pretrained(tmp_path / "run" / "final")
    ids = np.array([tokenizer.encode("<think>\nOkay")])
    np.testing.assert_array_equal(reloaded.logits(ids), model.logits(ids))


def test_the_commands_end_to_end(tmp_path, capsys):
    data = "task:addition?n=8&split=train&difficulty=1&seed=2"
    traces, pairs, run = tmp_path / "traces.jsonl", tmp_path / "pairs.jsonl", tmp_path / "run"
    assert main(["distill-data", "--teacher", "builtin:base", "--data", data, "--samples", "3", "--out", str(traces),
                 "--max-new-tokens", "32", "--no-progress"]) == 0
    assert "traces written" in capsys.readouterr().out and traces.stat().st_size > 0
    eval_data = "task:addition?n=16&split=test&difficulty=1"
    assert main(["sft", "--model", "builtin:student", "--data", str(traces), "--out-dir", str(run), "--steps", "2",
                 "--batch-size", "4", "--eval-data", eval_data, "--max-new-tokens", "32", "--no-progress"]) == 0
    assert "held-out accuracy (greedy)" in capsys.readouterr().out
    assert (run / "eval" / "step_000002.json").exists() and (run / "metrics.csv").exists()
    assert main(["distill", "--student", "builtin:student", "--teacher", "builtin:base", "--data", str(traces),
                 "--out-dir", str(tmp_path / "distill"), "--steps", "2", "--batch-size", "4", "--loss", "rkl",
                 "--no-progress"]) == 0
    assert main(["dpo-data", "--model", "builtin:student", "--data", data, "--samples", "4", "--out", str(pairs),
                 "--max-new-tokens", "32", "--no-progress"]) == 0
    assert main(["plot", str(run)]) == 0 and (run / "curves.png").exists()
    assert main(["distill", "--student", "builtin:student", "--teacher", "builtin:base", "--data", str(traces),
                 "--out-dir", str(tmp_path / "bad"), "--loss", "kl"]) == 1
    assert "loss must be one of fkl, rkl, jsd" in capsys.readouterr().err
    assert main(["sft", "--model", "builtin:student", "--data", str(traces), "--out-dir", str(tmp_path / "x"),
                 "--eval-data", data]) == 1
    assert "shares" in capsys.readouterr().err


def test_report_compares_runs_family_by_family(tmp_path):
    from minireason.posttrain.report import markdown_table, paired_by_family

    records = [{"family": "a"}] * 4 + [{"family": "b"}] * 4
    for run, steps in (("one", {0: [0, 0, 1, 1, 0, 0, 0, 1], 5: [1, 1, 1, 0, 0, 0, 1, 1]}),
                       ("two", {5: [1, 1, 1, 1, 1, 1, 1, 1]})):
        (tmp_path / run / "eval").mkdir(parents=True)
        for step, correct in steps.items():
            (tmp_path / run / "eval" / f"step_{step:06d}.json").write_text(json.dumps({"step": step, "correct": correct}))
    table = paired_by_family([0, 0, 1, 1, 0, 0, 0, 1], [1, 1, 1, 0, 0, 0, 1, 1], records)
    assert (table["all"]["gained"], table["all"]["lost"]) == (3, 1)
    assert (table["a"]["gained"], table["a"]["lost"], table["b"]["gained"]) == (2, 1, 1)
    text = markdown_table(f"{tmp_path / 'one'}@0", str(tmp_path / "one"), [str(tmp_path / "two")], records)
    assert "| two (step 5) | all | 100.0% | +62.5 (5 / 0, 0.062) | +37.5 (3 / 0, 0.25) |" in text
    with pytest.raises(DataError, match="step_000003.json does not exist"):
        markdown_table(f"{tmp_path / 'one'}@3", None, [str(tmp_path / "two")], records)
