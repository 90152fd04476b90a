"""`minireason eval` resumes only its own run: another run's file is refused in one line naming the settings."""

import json

import pytest
from cli_support import assert_one_line_error, run_cli

from minireason.config import PRESETS
from minireason.jsonl import read_jsonl
from minireason.model import Qwen3Model


@pytest.fixture(scope="module")
def saved_tiny_model(tmp_path_factory):
    from minireason.io.bpe_trainer import train_bpe
    from minireason.io.pretrained import save_pretrained

    path = tmp_path_factory.mktemp("model") / "tiny"
    tokenizer = train_bpe(["What is 12 + 34? 46 \\boxed{46} " * 20], vocab_size=270)
    config = PRESETS["test-tiny"].replace(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    save_pretrained(path, Qwen3Model.from_config(config, seed=0), tokenizer)
    return str(path)


def test_eval_resume_onto_another_run_is_one_line_naming_the_settings(saved_tiny_model, tmp_path):
    out = str(tmp_path / "o.jsonl")
    base = ["eval", "--model", saved_tiny_model, "--out", out, "--max-new-tokens", "3", "--no-progress",
            "--template", "short-direct"]
    code, printed, err = run_cli([*base, "--data", "task:addition?n=4", "--limit", "2"])
    assert code == 0, err
    manifest = json.loads((tmp_path / "o.jsonl.manifest.json").read_text())
    assert manifest["run"]["arguments"]["data"] == "task:addition?n=4" and manifest["command"] == "eval"
    before = (tmp_path / "o.jsonl").read_bytes()
    code, _, err = run_cli([*base, "--data", "task:arithmetic?n=4"])  # the blended accuracy
    assert_one_line_error(code, err, "eval", "holds 2 records of another run", "data_sha256", "--force-new")
    code, _, err = run_cli([*base, "--data", "task:addition?n=4", "--temperature", "0.7", "--seed", "1"])
    assert_one_line_error(code, err, "eval", "seed: None -> 1", "temperature: 0.0 -> 0.7")
    assert (tmp_path / "o.jsonl").read_bytes() == before
    code, printed, err = run_cli([*base, "--data", "task:addition?n=4", "--batch-size", "3"])  # same run: goes on
    assert code == 0 and "/4)" in printed, err
    code, printed, err = run_cli([*base, "--data", "task:arithmetic?n=4", "--limit", "1", "--force-new"])
    assert code == 0 and "/1)" in printed, err
    assert len(read_jsonl(out)) == 1
