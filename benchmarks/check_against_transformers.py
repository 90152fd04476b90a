"""Check minireason against an independent implementation: Hugging Face transformers (PyTorch).

    pip install torch transformers        # in your own environment; never a minireason dependency
    python benchmarks/check_against_transformers.py
    python benchmarks/check_against_transformers.py --chat-template qwen3.jinja

Random tiny Qwen3 models are built in transformers and loaded by minireason, and the other way
round, and the two implementations are compared on:

1. logits (float32 and float64; tied and untied heads; GQA and plain multi-head attention;
   head_dim != hidden/heads; rope_theta 1e4 and 1e6; several layers), through
   ``save_pretrained`` (safetensors) -> ``minireason.load_pretrained``;
   and the hyper-parameters minireason reads back from transformers' config.json;
2. a left-padded batch (transformers with attention_mask and position_ids);
3. gradients of every parameter (float64): sum(logits * R) with a random R, and a masked mean
   cross-entropy on a left-padded batch, torch autograd vs ``Qwen3Model.backward``;
4. ``minireason.save_pretrained`` -> ``Qwen3ForCausalLM.from_pretrained`` (float32, float64 and
   bfloat16 files), and the tokenizer: transformers' AutoTokenizer and the ``tokenizers`` library
   vs ``minireason.Tokenizer`` on sample strings;
5. greedy generation (float64, 20 new tokens, equal-length and left-padded prompts);
6. the chat template: Qwen3's Jinja template rendered by transformers vs
   ``Tokenizer.apply_chat_template``. The template is read from ``--chat-template PATH``, else
   from the copy of Qwen3's original template that the ``trl`` package ships
   (``trl/chat_templates/qwen3.jinja``, found without importing trl); without either, skipped.

Prints one row per check (max abs difference, max relative difference = max abs difference
divided by the largest reference magnitude, tolerance, PASS/FAIL) and exits 1 if any failed.
Runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformers_reference import hf_qwen3_config

try:
    import torch
    import transformers
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM
    from transformers.models.qwen3 import modeling_qwen3 as qwen3_modeling
except ImportError as error:  # pragma: no cover - depends on the environment
    sys.exit(f"this check needs torch and transformers installed ({error})")

import minireason
from minireason.config import ModelConfig
from minireason.model import Qwen3Model

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# max |a - b| / max |b| allowed for logits and gradients
LOGIT_TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
GRADIENT_TOLERANCE = 1e-10  # float64


@dataclass(frozen=True)
class Case:
    """One random tiny model."""

    name: str
    dtype: str
    tie_word_embeddings: bool
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rope_theta: float
    num_hidden_layers: int
    vocab_size: int = 97
    intermediate_size: int = 56
    rms_norm_eps: float = 1e-6


CASES = [
    Case("f32 tied GQA4/2 Dh12 th1e4 L3", "float32", True, 32, 4, 2, 12, 10_000.0, 3),
    Case("f32 untied MHA4 Dh16 th1e6 L2", "float32", False, 48, 4, 4, 16, 1_000_000.0, 2, rms_norm_eps=1e-5),
    Case("f64 untied GQA6/2 Dh10 th1e6 L3", "float64", False, 40, 6, 2, 10, 1_000_000.0, 3),
    Case("f64 tied MHA2 Dh24 th1e4 L2", "float64", True, 32, 2, 2, 24, 10_000.0, 2, rms_norm_eps=1e-5),
]


# ----------------------------------------------------------------------------- reporting
class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def add(self, check: str, case: str, abs_diff: float | None, rel_diff: float | None,
            tolerance: str, passed: bool) -> bool:
        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.2e}"

        self.rows.append((check, case, fmt(abs_diff), fmt(rel_diff), tolerance, "PASS" if passed else "FAIL"))
        return passed

    def compare(self, check: str, case: str, got: np.ndarray, expected: np.ndarray, tolerance: float) -> bool:
        """max |got - expected| and that divided by max |expected|; pass when the latter <= tolerance."""
        got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if got.shape != expected.shape:
            return self.add(check, case + f" (shape {got.shape} vs {expected.shape})", None, None,
                            f"{tolerance:.0e}", False)
        abs_diff = float(np.max(np.abs(got - expected)))
        rel_diff = abs_diff / max(float(np.max(np.abs(expected))), 1e-300)
        return self.add(check, case, abs_diff, rel_diff, f"{tolerance:.0e}", bool(rel_diff <= tolerance))

    def equal(self, check: str, case: str, same: bool, detail: str = "") -> bool:
        return self.add(check, case + (f" ({detail})" if detail else ""), None, None, "exact", same)

    def print(self) -> None:
        header = ("check", "case", "max abs", "max rel", "tol", "result")
        widths = [max(len(str(row[i])) for row in [header, *self.rows]) for i in range(len(header))]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        for row in [header, tuple("-" * w for w in widths), *self.rows]:
            print(line.format(*row).rstrip())
        failed = sum(row[-1] == "FAIL" for row in self.rows)
        print(f"\n{len(self.rows) - failed} passed, {failed} failed")


# ----------------------------------------------------------------------------- models
def hf_config(case: Case) -> Qwen3Config:
    return hf_qwen3_config(expected_model_config(case), attn_implementation="eager")


def expected_model_config(case: Case) -> ModelConfig:
    return ModelConfig(
        vocab_size=case.vocab_size, hidden_size=case.hidden_size, intermediate_size=case.intermediate_size,
        num_hidden_layers=case.num_hidden_layers, num_attention_heads=case.num_attention_heads,
        num_key_value_heads=case.num_key_value_heads, head_dim=case.head_dim, rope_theta=case.rope_theta,
        rms_norm_eps=case.rms_norm_eps, tie_word_embeddings=case.tie_word_embeddings, max_position_embeddings=256,
    )


def random_hf_model(case: Case, seed: int) -> Qwen3ForCausalLM:
    """A transformers model with every weight random (norm weights around 1, matrices std 0.15)."""
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(hf_config(case)).to(TORCH_DTYPES[case.dtype]).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 1:
                parameter.copy_(1.0 + 0.2 * torch.randn_like(parameter))
            else:
                parameter.normal_(0.0, 0.15)
    return model


# transformers computes RMSNorm, RoPE's cos/sin and the eager softmax in float32 whatever the model's
# dtype, so its float64 logits are only float32-accurate (and a fully masked padding row becomes
# NaN: float64's most negative number is -inf in float32). For a float64 reference these three
# functions are swapped, while a check runs, for the same formulas computed in the model's dtype.
def _rmsnorm_forward_same_dtype(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def _rotary_forward_float64(self, x, position_ids):
    base = self.config.rope_parameters["rope_theta"]
    dim = self.inv_freq.shape[0] * 2
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids[..., None].to(torch.float64) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)


def _eager_attention_same_dtype(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    key_states = qwen3_modeling.repeat_kv(key, module.num_key_value_groups)
    value_states = qwen3_modeling.repeat_kv(value, module.num_key_value_groups)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1)
    attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).contiguous()
    return attn_output, attn_weights


@contextlib.contextmanager
def full_precision(enabled: bool = True):
    """While active, transformers' Qwen3 computes everything in the model's dtype."""
    if not enabled:
        yield
        return
    saved = (qwen3_modeling.Qwen3RMSNorm.forward, qwen3_modeling.Qwen3RotaryEmbedding.forward,
             qwen3_modeling.eager_attention_forward)
    qwen3_modeling.Qwen3RMSNorm.forward = _rmsnorm_forward_same_dtype
    qwen3_modeling.Qwen3RotaryEmbedding.forward = _rotary_forward_float64
    qwen3_modeling.eager_attention_forward = _eager_attention_same_dtype
    try:
        yield
    finally:
        (qwen3_modeling.Qwen3RMSNorm.forward, qwen3_modeling.Qwen3RotaryEmbedding.forward,
         qwen3_modeling.eager_attention_forward) = saved


def hf_save(model, directory: Path) -> None:
    try:
        model.save_pretrained(directory, safe_serialization=True)
    except TypeError:  # transformers versions that always write safetensors and dropped the argument
        model.save_pretrained(directory)


def hf_logits(model, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    with torch.no_grad():
        return hf_logits_tensor(model, ids, mask).numpy()


def hf_logits_tensor(model, ids: np.ndarray, mask: np.ndarray | None = None):
    kwargs = {}
    if mask is not None:
        positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
        kwargs = {"attention_mask": torch.from_numpy(mask.astype(np.int64)),
                  "position_ids": torch.from_numpy(positions.astype(np.int64))}
    return model(input_ids=torch.from_numpy(ids.astype(np.int64)), use_cache=False, **kwargs).logits


def load_into_minireason(report: Report, case: Case, directory: Path) -> Qwen3Model:
    """``minireason.load_pretrained`` of transformers' directory; the hyper-parameters it read are
    checked against the ones the model was built with, and corrected if they differ so that the
    numerical checks below test the arithmetic, not the config parsing (reported separately)."""
    model, tokenizer = minireason.load_pretrained(directory, dtype=case.dtype)
    expected = expected_model_config(case)
    fields = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim", "rope_theta", "rms_norm_eps", "tie_word_embeddings")
    wrong = [f"{name}={getattr(model.config, name)!r}, expected {getattr(expected, name)!r}"
             for name in fields if getattr(model.config, name) != getattr(expected, name)]
    report.equal("1 config.json read", case.name, not wrong and tokenizer is None, "; ".join(wrong))
    if wrong:
        model = Qwen3Model(expected.replace(max_position_embeddings=model.config.max_position_embeddings),
                           model.params)
    return model


# ----------------------------------------------------------------------------- checks 1-3, 5
def check_hf_to_minireason(report: Report, case: Case, seed: int, workdir: Path) -> tuple:
    rng = np.random.default_rng(seed)
    hf_model = random_hf_model(case, seed)
    directory = workdir / f"hf-{seed}"
    hf_save(hf_model, directory)
    saved = json.loads((directory / "config.json").read_text())
    model = load_into_minireason(report, case, directory)
    tolerance = LOGIT_TOLERANCE[case.dtype]

    # 1. logits on random ids
    ids = rng.integers(0, case.vocab_size, (2, 20))
    if case.dtype == "float64":
        report.compare("1 logits vs stock hf", case.name + " (hf: f32 norm/rope/softmax)", model.logits(ids),
                       hf_logits(hf_model, ids), LOGIT_TOLERANCE["float32"])
    with full_precision(case.dtype == "float64"):
        report.compare("1 logits", case.name, model.logits(ids), hf_logits(hf_model, ids), tolerance)
        check_padding(report, case, hf_model, model, ids)
    return hf_model, model, saved


def check_padding(report: Report, case: Case, hf_model, model: Qwen3Model, ids: np.ndarray) -> None:
    tolerance = LOGIT_TOLERANCE[case.dtype]

    # 2. left-padded batch: row 0 has 6 pads, row 1 none; real positions only, and vs the row alone
    mask = np.ones((2, 20), dtype=bool)
    mask[0, :6] = False
    padded = np.where(mask, ids, 0)
    ours, theirs = model.logits(padded, attention_mask=mask), hf_logits(hf_model, padded, mask)
    report.compare("2 left-padded logits", case.name, ours[mask], theirs[mask], tolerance)
    alone = hf_logits(hf_model, ids[:1, 6:])
    report.compare("2 padded row vs alone(hf)", case.name, ours[0, 6:], alone[0], tolerance)


def check_refuses_scaled_rope(report: Report, workdir: Path) -> None:
    """A transformers config.json with a non-default rope_type must not load as plain RoPE."""
    for rope_parameters in ({"rope_type": "linear", "factor": 4.0, "rope_theta": 10_000.0},
                            {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10_000.0}):
        config = hf_config(CASES[0])
        config.rope_parameters = rope_parameters
        torch.manual_seed(0)
        directory = workdir / f"hf-rope-{rope_parameters['rope_type']}"
        hf_save(Qwen3ForCausalLM(config), directory)
        try:
            minireason.load_pretrained(directory)
            outcome = "loaded as plain RoPE"
        except minireason.CheckpointError:
            outcome = "CheckpointError"
        report.equal("1 refuses scaled RoPE", f"rope_type {rope_parameters['rope_type']!r}",
                     outcome == "CheckpointError", outcome)


def check_gradients(report: Report, case: Case, hf_model, model: Qwen3Model, seed: int) -> None:
    """float64: torch autograd vs Qwen3Model.backward, every parameter, by its HF name."""
    rng = np.random.default_rng(seed + 100)
    parameters = dict(hf_model.named_parameters())  # tied heads: lm_head.weight is not listed apart
    same_names = set(parameters) == set(model.params)
    report.equal("3 gradient names", case.name, same_names,
                 "" if same_names else f"hf-only {sorted(set(parameters) - set(model.params))}, "
                                       f"minireason-only {sorted(set(model.params) - set(parameters))}")

    def worst(ours: dict, label: str) -> None:
        worst_name, worst_rel, worst_abs = "", -1.0, 0.0
        for name, parameter in parameters.items():
            theirs = parameter.grad.numpy()
            abs_diff = float(np.max(np.abs(ours[name] - theirs)))
            rel = abs_diff / max(float(np.max(np.abs(theirs))), 1e-300)
            if not np.isfinite(rel):
                rel = abs_diff = float("inf")
            if rel > worst_rel:
                worst_name, worst_rel, worst_abs = name, rel, abs_diff
        report.add(label, f"{case.name} (worst: {worst_name})", worst_abs, worst_rel,
                   f"{GRADIENT_TOLERANCE:.0e}", worst_rel <= GRADIENT_TOLERANCE)

    # sum(logits * R), no padding
    ids = rng.integers(0, case.vocab_size, (2, 18))
    upstream = rng.standard_normal((2, 18, case.vocab_size))
    hf_model.zero_grad()
    (hf_logits_tensor(hf_model, ids) * torch.from_numpy(upstream)).sum().backward()
    logits, cache = model.forward(ids)
    worst(model.backward(upstream, cache), "3 grad sum(logits*R)")

    # masked mean cross-entropy on a left-padded batch
    mask = np.ones((2, 18), dtype=bool)
    mask[1, :5] = False
    ids = np.where(mask, ids, 0)
    targets = rng.integers(0, case.vocab_size, (2, 18))
    loss_mask = mask & (rng.random((2, 18)) < 0.8)
    hf_model.zero_grad()
    logits_t = hf_logits_tensor(hf_model, ids, mask)
    token_losses = torch.nn.functional.cross_entropy(
        logits_t.reshape(-1, case.vocab_size), torch.from_numpy(targets.reshape(-1)), reduction="none")
    weights = torch.from_numpy(loss_mask.reshape(-1).astype(np.float64))
    loss_t = (token_losses * weights).sum() / weights.sum()
    loss_t.backward()
    loss, grads = model.loss_and_grads(ids, targets, loss_mask=loss_mask, attention_mask=mask)
    report.compare("3 masked CE loss", case.name, np.array([loss]), np.array([loss_t.item()]), GRADIENT_TOLERANCE)
    worst(grads, "3 grad masked CE, padded")


class IdsOnly:
    """A stand-in tokenizer for token-id prompts: no special tokens, empty text."""

    eos_token_id = pad_token_id = None

    def decode(self, token_ids, skip_special_tokens=False) -> str:
        return ""


def check_generation(report: Report, case: Case, hf_model, model: Qwen3Model, seed: int) -> None:
    """Greedy decoding, 20 new tokens, never stopping early; equal-length and left-padded prompts."""
    rng = np.random.default_rng(seed + 200)
    pad_id = case.vocab_size - 1
    for label, lengths in (("equal", (7, 7)), ("left-padded", (4, 9, 6))):
        prompts = [rng.integers(0, case.vocab_size - 1, length).tolist() for length in lengths]
        results = minireason.generate(model, IdsOnly(), prompts, max_new_tokens=20, stop_token_ids=[])
        width = max(lengths)
        ids = np.full((len(prompts), width), pad_id)
        mask = np.zeros((len(prompts), width), dtype=np.int64)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = prompt
            mask[row, width - len(prompt):] = 1
        with torch.no_grad():
            output = hf_model.generate(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), do_sample=False,
                max_new_tokens=20, min_new_tokens=20, pad_token_id=pad_id, eos_token_id=None,
            )
        theirs = output[:, width:].tolist()
        ours = [result.token_ids for result in results]
        differing = [row for row in range(len(prompts)) if ours[row] != theirs[row]]
        detail = f"{len(prompts)} prompts x 20 tokens"
        if differing:
            row = differing[0]
            first = next((i for i, (a, b) in enumerate(zip(ours[row], theirs[row])) if a != b),
                         min(len(ours[row]), len(theirs[row])))
            detail += f"; row {row} differs from token {first}: {ours[row][first:first + 3]} vs {theirs[row][first:first + 3]}"
        report.equal("5 greedy generate", f"{case.name} {label}", not differing, detail)


# ----------------------------------------------------------------------------- check 4
SAMPLE_TEXTS = [
    "What is 12 + 30? The answer is 42.",
    "  leading spaces,\ttabs\tand\n\nnewlines\r\n  ",
    "don't won't I'm you'RE they've",
    "naïve café, Ünïcödé — “quotes” …",
    "数学题：三加五等于几？ 答案是八。",
    "emoji 🙂🚀 and 1234567890 digits 3.14159",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello<|endoftext|>",
    "a<think>b</think>c<|im_end|><|im_end|>",
    "",
    "x" * 50 + " " * 7 + "!!!???",
]
TRAINING_TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "What is 7 times 8? Let's think step by step: 7 * 8 = 56. The answer is 56.",
    "In 2024, 1234 + 5678 = 6912; isn't that neat? I'd say so.",
    "数学 学习 很 有趣。 café naïve résumé",
    "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n",
] * 4


def check_minireason_to_hf(report: Report, workdir: Path) -> tuple:
    tokenizer = minireason.train_bpe(TRAINING_TEXTS, 300)
    tokenizer.set_special_tokens(eos_token="<|im_end|>", pad_token="<|endoftext|>")
    vocab_size = tokenizer.vocab_size
    variants = [
        ("f32 tied GQA4/2 Dh12", "float32", True, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=12)),
        ("f64 untied MHA3 Dh8 th1e4", "float64", False,
         dict(num_attention_heads=3, num_key_value_heads=3, head_dim=8, rope_theta=10_000.0)),
    ]
    hf_directory = None
    for name, dtype, tied, shape in variants:
        config = ModelConfig(vocab_size=vocab_size, hidden_size=24, intermediate_size=40, num_hidden_layers=2,
                             tie_word_embeddings=tied, max_position_embeddings=128, **shape)
        model = Qwen3Model.from_config(config, seed=7, dtype=dtype)
        rng = np.random.default_rng(7)
        for key in model.params:  # larger random weights than from_config's, and non-trivial norms
            value = model.params[key]
            model.params[key] = (1.0 + 0.2 * rng.standard_normal(value.shape) if value.ndim == 1
                                 else 0.15 * rng.standard_normal(value.shape)).astype(dtype)
        directory = workdir / f"mr-{name.split()[0]}"
        minireason.save_pretrained(directory, model, tokenizer)
        hf_model, info = Qwen3ForCausalLM.from_pretrained(directory, output_loading_info=True,
                                                          dtype=TORCH_DTYPES[dtype])
        hf_model.eval()
        problems = {key: value for key, value in info.items() if value and key != "error_msgs" or
                    key == "error_msgs" and value}
        report.equal("4 from_pretrained keys", name, not problems, json.dumps(problems, default=str)[:120])
        ids = rng.integers(0, vocab_size, (2, 20))
        with full_precision(dtype == "float64"):
            report.compare("4 logits mr->hf", name, model.logits(ids), hf_logits(hf_model, ids),
                           LOGIT_TOLERANCE[dtype])
        report.equal("4 rope_theta read by hf", name,
                     hf_model.config.rope_parameters["rope_theta"] == config.rope_theta,
                     f"{hf_model.config.rope_parameters['rope_theta']} vs {config.rope_theta}")
        hf_directory = hf_directory or directory

        # bfloat16 files: transformers keeps them bf16 (dtype="auto"), the values are minireason's
        bf16_directory = workdir / f"mr-bf16-{name.split()[0]}"
        minireason.save_pretrained(bf16_directory, model, tokenizer, dtype="bfloat16")
        hf_bf16 = Qwen3ForCausalLM.from_pretrained(bf16_directory, dtype="auto").eval()
        ours_bf16, _ = minireason.load_pretrained(bf16_directory, dtype="float32")
        dtypes = {parameter.dtype for parameter in hf_bf16.parameters()}
        state = {key: value.float().numpy() for key, value in hf_bf16.state_dict().items()}
        same_values = all(np.array_equal(state[key], ours_bf16.params[key]) for key in ours_bf16.params)
        report.equal("4 bf16 dir loads in hf", name, dtypes == {torch.bfloat16} and same_values,
                     f"dtypes {sorted(map(str, dtypes))}, weights equal to minireason's: {same_values}")
        hf_bf16_as_f32 = Qwen3ForCausalLM.from_pretrained(bf16_directory, dtype=torch.float32).eval()
        report.compare("4 logits bf16 dir (f32)", name, ours_bf16.logits(ids), hf_logits(hf_bf16_as_f32, ids),
                       LOGIT_TOLERANCE["float32"])

    # tokenizer: transformers' AutoTokenizer and the tokenizers library on minireason's tokenizer.json
    import tokenizers

    auto = AutoTokenizer.from_pretrained(hf_directory)
    raw = tokenizers.Tokenizer.from_file(str(hf_directory / "tokenizer.json"))
    mismatches = []
    for text in SAMPLE_TEXTS:
        ours = tokenizer.encode(text)
        for label, theirs in (("AutoTokenizer", auto.encode(text, add_special_tokens=False)),
                              ("tokenizers", raw.encode(text, add_special_tokens=False).ids)):
            if ours != theirs:
                mismatches.append(f"{label} on {text[:20]!r}")
        if tokenizer.decode(ours) != auto.decode(ours) or tokenizer.decode(ours) != text:
            mismatches.append(f"decode of {text[:20]!r}")
        if tokenizer.decode(ours, skip_special_tokens=True) != auto.decode(ours, skip_special_tokens=True):
            mismatches.append(f"decode(skip_special) of {text[:20]!r}")
    report.equal("4 tokenizer encode/decode", f"{len(SAMPLE_TEXTS)} strings, vocab {vocab_size}", not mismatches,
                 "; ".join(mismatches[:3]))
    special_same = (auto.eos_token, auto.pad_token, auto.eos_token_id, auto.pad_token_id) == (
        tokenizer.eos_token, tokenizer.pad_token, tokenizer.eos_token_id, tokenizer.pad_token_id)
    report.equal("4 tokenizer eos/pad", "tokenizer_config.json", special_same,
                 f"hf {auto.eos_token!r}/{auto.pad_token!r}, minireason {tokenizer.eos_token!r}/{tokenizer.pad_token!r}")
    return tokenizer, auto


# ----------------------------------------------------------------------------- check 6
CONVERSATIONS = [
    [{"role": "user", "content": "What is 2+3?"}],
    [{"role": "system", "content": "You are careful."}, {"role": "user", "content": "What is 2+3?"}],
    [{"role": "user", "content": "What is 2+3?"},
     {"role": "assistant", "content": "<think>\n2 plus 3 is 5.\n</think>\n\n5"},
     {"role": "user", "content": "And 4+4?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+3?"},
     {"role": "assistant", "content": "<think>\n\nreason\n\n</think>\n\n\nThe answer is 5."}],
    [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "no think tags here"}],
    [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "reasoning_content": "R\n"}],
    [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "<think>r1</think>A1"},
     {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "<think>r2</think>A2"},
     {"role": "user", "content": "Q3"}],
    [{"role": "user", "content": "use the tool"}, {"role": "assistant", "content": "<think>call</think>calling"},
     {"role": "tool", "content": "result 1"}, {"role": "tool", "content": "result 2"},
     {"role": "assistant", "content": "<think>got it</think>done"}],
    [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<think>x</think>mid"},
     {"role": "system", "content": "late system"}, {"role": "assistant", "content": "plain"}],
    [{"role": "user", "content": "<tool_response>\nr\n</tool_response>"},
     {"role": "assistant", "content": "<think>t</think>a"}],
    [{"role": "assistant", "content": "<think>first</think>only assistant"}],
]


def find_chat_template(path: str | None) -> tuple[str | None, str]:
    if path:
        return Path(path).read_text(encoding="utf-8"), path
    spec = importlib.util.find_spec("trl")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "chat_templates" / "qwen3.jinja"
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8"), f"trl/chat_templates/qwen3.jinja (trl {trl_version()})"
    return None, ""


def trl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl")
    except PackageNotFoundError:
        return "?"


def check_chat_template(report: Report, tokenizer, auto, template_path: str | None) -> str:
    template, source = find_chat_template(template_path)
    if template is None:
        report.add("6 chat template", "SKIPPED: no Qwen3 template (--chat-template or trl)", None, None, "exact", True)
        return "skipped"
    auto.chat_template = template
    mismatches, count = [], 0
    for index, messages in enumerate(CONVERSATIONS):
        for add_generation_prompt in (True, False):
            for enable_thinking in (True, False):
                count += 1
                theirs = auto.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                  enable_thinking=enable_thinking)
                ours = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt,
                                                     enable_thinking=enable_thinking)
                if ours != theirs:
                    mismatches.append(f"conversation {index} gen={add_generation_prompt} think={enable_thinking}: "
                                      f"{ours!r} vs {theirs!r}")
    report.equal("6 chat template", f"{count} renders", not mismatches, "; ".join(mismatches[:2]))
    return source


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chat-template", help="a file holding Qwen3's chat template (Jinja)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    report = Report()
    rope_fields = []
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        for seed, case in enumerate(CASES):
            hf_model, model, saved = check_hf_to_minireason(report, case, seed, workdir)
            rope_fields.append({key: saved[key] for key in ("rope_theta", "rope_parameters", "rope_scaling")
                                if key in saved})
            if case.dtype == "float64":
                with full_precision():
                    check_gradients(report, case, hf_model, model, seed)
                    check_generation(report, case, hf_model, model, seed)
        check_refuses_scaled_rope(report, workdir)
        tokenizer, auto = check_minireason_to_hf(report, workdir)
        source = check_chat_template(report, tokenizer, auto, args.chat_template)

    print(f"minireason {minireason.__version__}, transformers {transformers.__version__}, "
          f"torch {torch.__version__}, numpy {np.__version__}")
    print(f"RoPE fields in transformers' config.json: {rope_fields[0]}")
    if source != "skipped":
        print(f"chat template: {source}")
    print()
    report.print()
    return 0 if all(row[-1] == "PASS" for row in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
