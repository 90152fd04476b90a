"""Multiple choice, two ways on the same records: the letter a model writes, or the log-probability
it gives each option.

A *multiple-choice record* (MMLU-style) is ``{"problem": question, "choices": [text, ...],
"answer": "B", "answer_index": 1}`` plus whatever the source carried (``subject``, ``unique_id``,
a task's ``family``). :func:`load_choice_records` reads JSON lists, JSONL and CSV files: the
question as ``question`` or ``problem``, the options as a ``choices`` list or as columns ``A``,
``B``, ..., the answer as an index (0-based) or a letter. A CSV without a header is read in
MMLU's own layout: question, the options, the answer letter.

``mc-letter``
    the question with its lettered options goes to the model through the one prompt spec (the
    ``direct`` template asks for ``\\boxed{ANSWER}``); :func:`extract_letter` reads the letter from
    ``B``, ``(B)``, ``The answer is B.``, ``\\boxed{B}``, ``B. <option text>`` by parsing, never by
    evaluating, and the record is right when it is the gold letter.
``mc-logprob``
    each option's text, written as the model writes a final answer (``\\boxed{OPTION}``), is scored
    by its log-probability after the question's prompt: the sum over its tokens and the mean per
    token are both recorded, and the prediction by each is the option with the highest score. One
    batched forward per problem: the shared prompt is run once into a KV cache, the cache is
    copied to one row per option, and all options go through in one (right-padded) batch
    (:func:`option_logprobs`).

Runs are resumable exactly like ``minireason eval`` (a manifest beside the records, see
:mod:`minireason.evaluation.runs`); the mode is part of the run's identity.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from minireason.device import to_host, to_module
from minireason.errors import DataError, InputError
from minireason.evaluation.core import judged_batches
from minireason.evaluation.datasets import read_text_file
from minireason.evaluation.extract import last_boxed
from minireason.evaluation.runs import EvalSettings, eval_identity, open_results, summarize
from minireason.generation.kv_cache import KVCache
from minireason.jsonl import jsonl_line
from minireason.run_folder import holding_results_file

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MODES = ("mc-letter", "mc-logprob")
LETTER_INSTRUCTION = "Answer with the letter of the correct option."


# ---------------------------------------------------------------------------- records


def choice_record(question, choices, answer, where: str = "record", **extra) -> dict:
    """One checked multiple-choice record; DataError naming ``where`` and the bad field otherwise."""
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: field 'question' expected a non-empty string, got {question!r}")
    if not isinstance(choices, (list, tuple)) or not 2 <= len(choices) <= len(LETTERS):
        raise DataError(f"{where}: field 'choices' expected a list of 2..{len(LETTERS)} options, got {choices!r}")
    choices = [str(choice) if isinstance(choice, (int, float)) and not isinstance(choice, bool) else choice
               for choice in choices]
    if not all(isinstance(choice, str) and choice.strip() for choice in choices):
        raise DataError(f"{where}: field 'choices' expected non-empty strings, got {choices!r}")
    if isinstance(answer, str) and answer.strip().isdigit():
        answer = int(answer.strip())
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(choices):
        index = answer
    elif isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip().upper() in LETTERS[:len(choices)]:
        index = LETTERS.index(answer.strip().upper())
    else:
        raise DataError(f"{where}: field 'answer' expected an index in 0..{len(choices) - 1} or a letter in "
                        f"{LETTERS[0]}..{LETTERS[len(choices) - 1]}, got {answer!r}")
    return {**extra, "problem": question, "choices": list(choices), "answer": LETTERS[index], "answer_index": index}


def _from_object(item, where: str) -> dict:
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(item).__name__}")
    question = item.get("question", item.get("problem"))
    choices = item.get("choices")
    if choices is None:
        choices = [item[letter] for letter in LETTERS if letter in item]
    extra = {key: value for key, value in item.items()
             if key not in ("question", "problem", "choices", "answer", "answer_index", *LETTERS)}
    return choice_record(question, choices, item.get("answer", item.get("answer_index")), where, **extra)


def load_choice_records(path: str | Path) -> list[dict]:
    """Multiple-choice records from a JSON list, JSONL or CSV file (see the module docstring)."""
    path = Path(path)
    text = read_text_file(path, "multiple-choice records")
    records = []
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        header = [cell.strip() for cell in rows[0]] if rows else []
        if {"question", "answer"} <= set(header) or {"problem", "answer"} <= set(header):
            for number, row in enumerate(rows[1:], start=2):
                if row:
                    records.append(_from_object(dict(zip(header, row)), f"{path}:{number}"))
        else:  # MMLU's layout: question, options..., answer letter
            for number, row in enumerate(rows, start=1):
                if row:
                    if len(row) < 4:
                        raise DataError(f"{path}:{number}: expected question, 2+ options and the answer, got {row!r}")
                    records.append(choice_record(row[0], row[1:-1], row[-1], f"{path}:{number}"))
    elif text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{error.lineno}: malformed JSON: {error.msg}") from None
        records = [_from_object(item, f"{path}: item {index}") for index, item in enumerate(items)]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}:{number}: malformed JSON line: {error.msg}") from None
                records.append(_from_object(item, f"{path}:{number}"))
    if not records:
        raise DataError(f"{path}: expected at least one multiple-choice record, got none")
    return records


def lettered_question(record: dict) -> str:
    """The question, its options as ``A. ...`` lines, and the instruction to answer with a letter."""
    options = "\n".join(f"{LETTERS[index]}. {choice}" for index, choice in enumerate(record["choices"]))
    return f"{record['problem']}\n{options}\n{LETTER_INSTRUCTION}"


def option_continuation(choice: str) -> str:
    """How an option is written after the prompt when it is scored: as a final answer."""
    return "\\boxed{" + choice + "}"


# ---------------------------------------------------------------------------- letters

_LETTER_AFTER_PHRASE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:option\s+|choice\s+)?[\(\[]?\s*([A-Z])\s*[\)\]]?(?![A-Za-z])",
    re.IGNORECASE)
_LONE_LETTER = re.compile(r"^\s*[\(\[]?([A-Z])[\)\]]?(?:[.:)]|\s|$)")
_PARENTHESISED = re.compile(r"\(([A-Z])\)")


def extract_letter(text: str | None, choices: int) -> str | None:
    """The option letter a response gives (``A`` .. the ``choices``-th letter), or None.

    In order: the last ``\\boxed{}`` holding a letter (``B``, ``(B)``, ``\\text{B}``); the last
    "answer is B" / "answer: (B)" / "option B"; a response starting with the letter (``B``,
    ``(B)``, ``B.``, ``B) text``); the last parenthesised ``(B)``. A letter outside the options is
    no answer. Only upper-case letters count outside a phrase, so the article "a" is never read
    as option A.
    """
    if not isinstance(text, str) or not text:
        return None
    valid = LETTERS[:choices]
    found, boxed = last_boxed(text)
    if found and boxed is not None:
        inner = re.sub(r"\\text(?:bf)?\{([^{}]*)\}", r"\1", boxed).strip().strip("().[] ")
        if len(inner) == 1 and inner.upper() in valid:
            return inner.upper()
    for match in reversed(list(_LETTER_AFTER_PHRASE.finditer(text))):
        letter = match.group(1)
        if letter.upper() in valid and (letter.isupper() or match.group(0).endswith((")", "]"))):
            return letter.upper()
    match = _LONE_LETTER.match(text)
    if match and match.group(1) in valid:
        return match.group(1)
    parenthesised = [letter for letter in _PARENTHESISED.findall(text) if letter in valid]
    return parenthesised[-1] if parenthesised else None


# ---------------------------------------------------------------------------- log-probabilities


def option_logprobs(model, prefix_ids: Sequence[int], option_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Per-token log-probabilities of each option's tokens after ``prefix_ids``, one array per option.

    One pass over the prefix into a KV cache, whose row is then copied once per option; the options
    run as one right-padded batch (a padded slot is masked out of every key, so a real token sees
    only the prefix and its own option). The prefix's last logits predict each option's first token.
    """
    if len(prefix_ids) < 1:
        raise InputError("option_logprobs: expected a non-empty prefix")
    if not option_ids or any(len(ids) < 1 for ids in option_ids):
        raise InputError("option_logprobs: expected at least one option, each of at least one token")
    count, longest = len(option_ids), max(len(ids) for ids in option_ids)
    cache = KVCache(model.config, 1, len(prefix_ids) + longest, dtype=model.dtype, array_module=model.array_module)
    prefix_logits, _ = model.forward(np.asarray([prefix_ids], dtype=np.int64), kv_cache=cache, last_only=True)
    cache.select_rows([0] * count)
    tokens = np.zeros((count, longest), dtype=np.int64)  # (K, L) right-padded
    mask = np.zeros((count, longest), dtype=bool)  # (K, L)
    for row, ids in enumerate(option_ids):
        tokens[row, :len(ids)] = ids
        mask[row, :len(ids)] = True
    option_logits, _ = model.forward(tokens, attention_mask=mask, kv_cache=cache)  # (K, L, V)
    module = model.array_module
    first = module.broadcast_to(prefix_logits, (count, 1, prefix_logits.shape[-1]))  # (K, 1, V)
    predicting = module.concatenate([first, option_logits[:, :-1]], axis=1)  # (K, L, V): logits of token t
    (logp, _), _ = model.ops.token_logprobs_forward(predicting, to_module(tokens, module), 1.0, False)
    logp = to_host(logp)  # (K, L)
    return [logp[row, :len(ids)].copy() for row, ids in enumerate(option_ids)]


def score_options(model, tokenizer, prompt: str, choices: Sequence[str]) -> dict:
    """Each option's summed and mean per-token log-probability after ``prompt``, and the predictions."""
    prefix_ids = tokenizer.encode(prompt)
    option_ids = [tokenizer.encode(option_continuation(choice)) for choice in choices]
    per_token = option_logprobs(model, prefix_ids, option_ids)
    sums = [float(np.sum(values, dtype=np.float64)) for values in per_token]
    means = [total / len(values) for total, values in zip(sums, per_token)]
    return {"option_logprobs": sums, "option_mean_logprobs": means,
            "option_tokens": [len(values) for values in per_token],
            "predicted": LETTERS[int(np.argmax(sums))], "predicted_mean": LETTERS[int(np.argmax(means))]}


# ---------------------------------------------------------------------------- runs


def _kept_fields(record: dict) -> dict:
    return {key: record[key] for key in ("unique_id", "subject", "level", "family") if key in record}


@holding_results_file("out_path")
def run_multiple_choice(model, tokenizer, records: Sequence[dict], out_path: str | Path, mode: str,
                        settings: EvalSettings | None = None, limit: int | None = None,
                        generate_function: Callable | None = None, progress: bool = True,
                        force_new: bool = False, run_info: dict | None = None) -> dict:
    """Answer ``records[:limit]`` by ``mode`` (``mc-letter`` or ``mc-logprob``), append one record each
    to ``out_path`` and return the summary of all (accuracy; for mc-logprob also by mean log-prob;
    the chance level). Resumes the same run like :func:`minireason.evaluation.runs.run_evaluation`."""
    if mode not in MODES:
        raise InputError(f"mode: expected one of {MODES}, got {mode!r}")
    settings = settings or EvalSettings()
    settings.check()
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InputError(f"limit: expected None or an int >= 0, got {limit!r}")
    out_path = Path(out_path)
    records = list(records)
    identity = {**eval_identity(model, records, settings), "mode": mode}
    if mode == "mc-logprob":  # scoring draws nothing: the sampling settings do not change a record
        for name in ("max_new_tokens", "temperature", "top_k", "top_p", "seed", "sample_seeds"):
            identity.pop(name, None)
    records = records[:limit]
    done = open_results(out_path, identity, len(records), force_new, run_info)
    spec = settings.prompt_spec()
    with out_path.open("a", encoding="utf-8") as handle:
        if mode == "mc-logprob":
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(records), initial=len(done), unit="problem", desc="mc-logprob", dynamic_ncols=True)
            for index in range(len(done), len(records)):
                record = records[index]
                started = time.perf_counter()
                scores = score_options(model, tokenizer, spec.text(record["problem"]), record["choices"])
                answer = {"index": index, **_kept_fields(record), "problem": record["problem"],
                          "choices": record["choices"], "gold": record["answer"], **scores,
                          "correct": scores["predicted"] == record["answer"],
                          "correct_mean": scores["predicted_mean"] == record["answer"],
                          "seconds": time.perf_counter() - started}
                handle.write(jsonl_line(answer))
                handle.flush()
                done.append(answer)
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
        else:
            asked = [{"problem": lettered_question(record), "answer": record["answer"],
                      "options": len(record["choices"])} for record in records]

            def judge(problem: dict, text: str) -> tuple[str | None, bool]:
                letter = extract_letter(text, problem["options"])
                return letter, letter is not None and letter == problem["answer"]

            for answers in judged_batches(model, tokenizer, asked, spec, settings.sampling(),
                                          batch_size=settings.batch_size, start=len(done), judge=judge,
                                          generate_function=generate_function, progress=progress, desc="mc-letter"):
                lines = []
                for answer in answers:
                    record = records[answer["index"]]
                    written = {"index": answer["index"], **_kept_fields(record), "problem": record["problem"],
                               "choices": record["choices"], "gold": record["answer"],
                               **{key: value for key, value in answer.items() if key not in ("index", "extracted")},
                               "predicted": answer["extracted"]}
                    lines.append(jsonl_line(written))
                    done.append(written)
                handle.write("".join(lines))
                handle.flush()
    return summarize_choices(done)


def summarize_choices(records: Sequence[dict]) -> dict:
    """The evaluation summary, plus the chance level (mean of 1 / options) and, where scored by
    log-probability, the accuracy by mean per-token log-probability."""
    summary = summarize(records)
    summary["chance"] = float(np.mean([1 / len(r["choices"]) for r in records])) if records else 0.0
    if records and all("correct_mean" in r for r in records):
        summary["accuracy_mean_logprob"] = sum(bool(r["correct_mean"]) for r in records) / len(records)
    summary["answered"] = sum(r.get("predicted") is not None for r in records)
    return summary


def format_choice_summary(summary: dict) -> str:
    """A few lines: accuracy (and by mean log-prob), answered, chance level."""
    lines = [f"accuracy {summary['accuracy']:.1%} ({summary['correct']}/{summary['total']})"]
    if "accuracy_mean_logprob" in summary:
        lines.append(f"accuracy by mean per-token log-prob {summary['accuracy_mean_logprob']:.1%}")
    lines.append(f"answered {summary['answered']}/{summary['total']}")
    lines.append(f"chance {summary['chance']:.1%}")
    return "\n".join(lines)
