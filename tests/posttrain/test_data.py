"""minireason.posttrain.data: traces in the plain task format and the Qwen3 chat template, the
completion-only loss mask, malformed records skipped and reported, the length filter, the hash split,
length buckets, preference pairs; the real teacher traces of ../shared/data when present."""

import json

import numpy as np
import pytest
from paths import SHARED_DATA

from minireason.errors import DataError, InputError
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.sequences import pack_completions
from minireason.io.bpe_trainer import train_bpe
from minireason.io.chat_template import render_chat, split_reasoning
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.data import (
    LengthBuckets,
    assistant_turn,
    load_pairs,
    load_sequences,
    read_records,
    render_example,
    validation_share,
)
from minireason.tasks import generate_problems

SHARED_TRACES = SHARED_DATA / "sample_openrouter_outputs.json"


@pytest.fixture(scope="module")
def builtin_tokenizer():
    return load_pretrained("builtin:student")[1]


@pytest.fixture(scope="module")
def chat_tokenizer():
    """A Qwen-layout byte-level BPE tokenizer (<|im_start|>, <|im_end|>, <think>, </think>)."""
    return train_bpe(["What is 2+3? Let me think: two plus three is five. \\boxed{5}"] * 4, vocab_size=300)


def trace(problem="What is 2+3?", thinking="2 plus 3 is 5.", content="\\boxed{5}", **extra):
    return {"problem": problem, "gtruth_answer": "5", "message_thinking": thinking, "message_content": content, **extra}


def write_jsonl(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_plain_format_reproduces_the_task_traces_the_builtin_models_were_trained_on(builtin_tokenizer):
    for problem in generate_problems("addition", 5, split="train", difficulty=3, seed=4):
        thinking, content = split_reasoning(problem.trace_completion)
        prompt, completion = render_example(trace(problem.text, thinking, content), "plain", "<|endoftext|>")
        assert prompt == problem.text + " Think step by step.\n"
        assert completion == problem.trace_completion + "<|endoftext|>"


def test_chat_format_is_the_chat_templates_assistant_turn():
    prompt, completion = render_example(trace(), "chat", "<|im_end|>")
    assert prompt == PromptSpec("cot", "chat").text("What is 2+3?")
    assert prompt.endswith("<|im_start|>assistant\n")
    assert completion == "<think>\n2 plus 3 is 5.\n</think>\n\n\\boxed{5}<|im_end|>"
    user_text = "What is 2+3?\nPlease reason step by step, and put your final answer within \\boxed{}."
    whole = render_chat([{"role": "user", "content": user_text},
                         {"role": "assistant", "content": "\\boxed{5}", "reasoning_content": "2 plus 3 is 5."}],
                        add_generation_prompt=False)
    assert prompt + completion + "\n" == whole
    assert assistant_turn("\nwhy\n", "answer", "plain") == "<think>\nwhy\n</think>\nanswer"


def test_plain_pairs_get_one_end_marker():
    assert render_example({"prompt": "Q: 1+1?\n", "completion": "2"}, "plain", "<E>") == ("Q: 1+1?\n", "2<E>")
    assert render_example({"prompt": "Q", "completion": "2<E>"}, "plain", "<E>") == ("Q", "2<E>")


def test_loss_mask_covers_exactly_the_completion_tokens(builtin_tokenizer, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("Compute 1+2.", "2+1+0=3, 3", "\\boxed{3}")])
    train, _, _ = load_sequences(path, builtin_tokenizer, "plain", validation_fraction=0.0)
    input_ids, targets, loss_mask, _ = pack_completions(train.prompt_ids, train.completion_ids)
    completion = builtin_tokenizer.decode(targets[0][loss_mask[0]].tolist())
    assert completion == "<think>\n2+1+0=3, 3\n</think>\n\\boxed{3}<|endoftext|>"
    assert targets[0][loss_mask[0]][-1] == builtin_tokenizer.eos_token_id
    assert builtin_tokenizer.decode(input_ids[0][:int((~loss_mask[0]).sum()) + 1].tolist()) == \
        "Compute 1+2. Think step by step.\n"


def test_malformed_records_are_skipped_counted_and_the_first_few_reported(builtin_tokenizer, tmp_path):
    lines = [trace(f"Compute {i}+1.") for i in range(3)]
    lines.insert(1, "{not json")
    lines += [[1, 2], {"problem": "Compute 9+9.", "message_thinking": 3, "message_content": "x"},
              {"problem": "Compute 8+8."}, {"prompt": "p", "completion": ""}, trace(""),
              trace("Compute 7+7.", content="  "), {"prompt": "Q", "completion": "A"}]
    path = write_jsonl(tmp_path / "mixed.jsonl", lines)
    train, validation, report = load_sequences(path, builtin_tokenizer, "plain", validation_fraction=0.0)
    assert report.records == 11 and report.malformed == 7
    assert len(train) + len(validation) == 4 == report.train + report.validation
    assert len(report.problems) == 5
    assert report.problems[0].startswith(f"{path}:2: not valid JSON")
    assert report.problems[1] == f"{path}:5: expected a JSON object, got list"
    assert "'message_thinking' expected a string, got int" in report.problems[2]
    assert "(problem 'Compute 9+9.')" in report.problems[2] and report.problems[2].startswith(f"{path}:6")
    assert "expected the fields problem, message_thinking, message_content" in report.problems[3]
    assert "7 malformed (skipped)" in report.summary()


def test_json_list_lines_long_examples_and_nothing_usable(builtin_tokenizer, tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([trace("Compute 1+1."), {"bad": 1}, trace("Compute 2+2.", "x " * 200)], indent=1))
    train, _, report = load_sequences(path, builtin_tokenizer, "plain", max_tokens=40, validation_fraction=0.0)
    assert len(train) == 1 and report.too_long == 1 and report.malformed == 1
    assert report.problems[0].startswith(f"{path}:") and not report.problems[0].startswith(f"{path}:?")
    (tmp_path / "broken.json").write_text("[{\"problem\": ")
    with pytest.raises(DataError, match="broken.json:1: malformed JSON list"):
        load_sequences(tmp_path / "broken.json", builtin_tokenizer)
    with pytest.raises(DataError, match="no usable training example"):
        load_sequences([{"bad": 1}], builtin_tokenizer)
    with pytest.raises(InputError, match="prompt format"):
        load_sequences([trace()], builtin_tokenizer, "html")


def test_split_by_hash_keeps_a_problems_traces_together_and_ignores_order(builtin_tokenizer):
    records = [trace(f"Compute {i}+{j}.", f"{i}+{j}, step {k}") for i in range(30) for j in range(5) for k in range(2)]
    train, validation, _ = load_sequences(records, builtin_tokenizer, "plain", validation_fraction=0.3)
    assert not set(train.prompts) & set(validation.prompts)
    assert 0.15 < len(validation) / len(records) < 0.45
    shuffled = [records[i] for i in np.random.default_rng(0).permutation(len(records))]
    _, validation_again, _ = load_sequences(shuffled, builtin_tokenizer, "plain", validation_fraction=0.3)
    assert set(validation_again.prompts) == set(validation.prompts)
    assert validation_share("abc") == validation_share("abc") and 0 <= validation_share("abc") < 1


def test_length_buckets_draw_one_bucket_and_every_example_alike():
    lengths = np.array([5] * 10 + [50] * 10 + [500] * 10)
    buckets = LengthBuckets(lengths, count=3)
    rng = np.random.default_rng(0)
    counts = np.zeros(30)
    for _ in range(600):
        rows = buckets.draw(rng, 8)
        assert len(set(lengths[rows])) == 1  # one bucket per batch
        np.add.at(counts, rows, 1)
    assert counts.min() > 0.6 * counts.mean() and counts.max() < 1.4 * counts.mean()
    with pytest.raises(InputError):
        LengthBuckets(np.array([]), 3)


def test_preference_pairs(builtin_tokenizer, tmp_path):
    lines = [{"prompt": "Compute 1+1. Think step by step.\n", "chosen": "<think>\n1+1\n</think>\n\\boxed{2}",
              "rejected": "<think>\n1+1\n</think>\n\\boxed{3}"},
             {"prompt": "P", "chosen": "same", "rejected": "same"}, {"prompt": "P", "chosen": "a"}]
    train, _, report = load_pairs(write_jsonl(tmp_path / "pairs.jsonl", lines), builtin_tokenizer,
                                  validation_fraction=0.0)
    assert len(train) == 1 and report.malformed == 2
    assert "the same text" in report.problems[0] and "missing field 'rejected'" in report.problems[1]
    assert train.chosen_ids[0][-1] == builtin_tokenizer.eos_token_id == train.rejected_ids[0][-1]
    assert builtin_tokenizer.decode(train.rejected_ids[0]).endswith("\\boxed{3}<|endoftext|>")


@pytest.mark.skipif(not SHARED_TRACES.exists(), reason="sample_openrouter_outputs.json absent")
def test_the_shared_teacher_traces_through_the_chat_template(chat_tokenizer):
    found, _ = read_records(SHARED_TRACES)
    train, validation, report = load_sequences(SHARED_TRACES, chat_tokenizer, "chat", max_tokens=100_000,
                                               validation_fraction=0.0)
    assert report.records == len(found) == 5 and report.malformed == 0 and len(train) == 5
    for (_, record), prompt, completion_ids in zip(found, train.prompts, train.completion_ids):
        assert prompt == PromptSpec("cot", "chat").text(record["problem"])
        text = chat_tokenizer.decode(completion_ids)
        assert text.startswith("<think>\n") and text.endswith(record["message_content"].strip() + "<|im_end|>")
        assert record["message_thinking"].strip() in text
        assert completion_ids[-1] == chat_tokenizer.token_to_id("<|im_end|>")
