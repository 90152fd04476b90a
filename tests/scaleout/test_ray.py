"""minireason.scaleout on a local Ray instance (2 CPUs, 2 workers, the built-in student): evaluation,
scaling and teacher data write the same records as the single process; an actor killed mid-run has
its work redone (nothing lost or written twice), and a rollout worker that dies has its groups drawn
again, the same; an interrupted run resumes to the same records; a GRPO run with 2 rollout workers
ends with the same parameters as with 1; no Ray process is left behind (after the session, and after
a Ctrl-C of ``minireason eval --ray``); without Ray, or with an address where nothing listens, a
one-line error."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from minireason.errors import ConfigError, InputError
from minireason.evaluation.runs import EvalSettings, read_records, run_evaluation
from minireason.generation.generate import generate
from minireason.generation.rollout import sample_groups
from minireason.identity import weights_sha256
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.grpo import GRPOConfig, train_grpo
from minireason.posttrain.teacher_data import SamplingSettings, sample_pairs, sample_traces
from minireason.scaleout import RayExecutor, import_ray, probe_address, scale_out
from minireason.scaling.outcome import ScalingSettings
from minireason.scaling.runner import parse_methods, run_comparison
from minireason.scaling.sampler import ModelSampler
from minireason.tasks.export import resolve_data

ROOT = Path(__file__).resolve().parents[2]
RAY_MARKS = ("ray::", "raylet", "gcs_server", "ray/_private", "ray/dashboard", "ray/autoscaler")


def ray_processes() -> set[int]:
    """Processes of any Ray instance on this machine (by their command lines)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(mark in command for mark in RAY_MARKS):
            found.add(int(entry))
    return found


def descendants(root: int) -> set[int]:
    """The processes started by ``root``, and by them, ... (by their parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def gone(pids: set[int], seconds: float = 20.0) -> set[int]:
    """Those of ``pids`` still running after waiting up to ``seconds`` for them to end."""
    deadline = time.monotonic() + seconds
    while True:
        left = {pid for pid in pids if Path(f"/proc/{pid}").exists()
                and "zombie" not in Path(f"/proc/{pid}/status").read_text(errors="replace")}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@pytest.fixture(scope="session")
def ray():
    ray = pytest.importorskip("ray")
    before = ray_processes()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    assert not gone(ray_processes() - before), "Ray processes left after the session's ray.shutdown()"


@pytest.fixture(scope="module")
def student():
    return load_pretrained("builtin:student")


@pytest.fixture(scope="module")
def pool(ray, student):
    """2 workers with the student's replicas, shared by the tests of this file."""
    with scale_out(*student, ray=True, workers=2) as executor:
        yield executor


@pytest.fixture
def workers(pool, student):
    pool.publish(student[0])  # the student's own weights, whatever an earlier test published
    return pool


def without_seconds(records):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in records]


EVAL_DATA = "task:addition?n=10&split=test&difficulty=1&seed=4"
EVAL = EvalSettings(batch_size=2, max_new_tokens=24, temperature=1.0, seed=7)


def test_eval_records_match_the_single_process(workers, student, tmp_path):
    problems = resolve_data(EVAL_DATA)
    single = run_evaluation(*student, problems, tmp_path / "single.jsonl", EVAL, progress=False)
    spread = run_evaluation(*student, problems, tmp_path / "ray.jsonl", EVAL, progress=False, executor=workers)
    records = read_records(tmp_path / "ray.jsonl")
    assert [record["index"] for record in records] == list(range(len(problems)))
    assert without_seconds(records) == without_seconds(read_records(tmp_path / "single.jsonl"))
    assert spread["correct"] == single["correct"]


def test_a_killed_actor_has_its_batches_redone(workers, student, tmp_path):
    problems = resolve_data(EVAL_DATA)
    run_evaluation(*student, problems, tmp_path / "single.jsonl", EVAL, progress=False)
    victim = workers.actors[1]
    asked = []

    def slow_generate(*args, **kwargs):  # slow enough that the actor dies with work in flight
        time.sleep(0.5)
        return generate(*args, **kwargs)

    def kill_once():
        asked.append(1)
        if len(asked) == 2:
            workers.ray.kill(victim)
        return False

    restarts = workers.restarts
    run_evaluation(*student, problems, tmp_path / "ray.jsonl", EVAL, progress=False, executor=workers,
                   generate_function=slow_generate, should_stop=kill_once)
    assert workers.restarts == restarts + 1 and victim not in workers.actors
    records = read_records(tmp_path / "ray.jsonl")
    assert [record["index"] for record in records] == list(range(len(problems)))  # none lost, none twice
    assert without_seconds(records) == without_seconds(read_records(tmp_path / "single.jsonl"))


def test_an_interrupted_run_resumes_to_the_same_records(workers, student, tmp_path):
    problems = resolve_data(EVAL_DATA)
    run_evaluation(*student, problems, tmp_path / "single.jsonl", EVAL, progress=False)
    asked = []

    def stop_after_two_batches():
        asked.append(1)
        return len(asked) > 2

    out = tmp_path / "ray.jsonl"
    run_evaluation(*student, problems, out, EVAL, progress=False, executor=workers,
                   should_stop=stop_after_two_batches)
    assert len(read_records(out)) == 4
    run_evaluation(*student, problems, out, EVAL, progress=False, executor=workers)
    assert without_seconds(read_records(out)) == without_seconds(read_records(tmp_path / "single.jsonl"))


def test_scale_records_match_the_single_process(workers, student, tmp_path):
    problems = resolve_data("task:addition?n=3&split=test&difficulty=1&seed=2")
    sampler = ModelSampler(*student, batch_size=2)
    settings = ScalingSettings(max_new_tokens=24, temperature=1.0)
    methods = parse_methods("greedy,sc@3,bon@2")

    def records(path, executor):
        rows = run_comparison(sampler, problems, methods, settings, seed=3, records_path=path, executor=executor)
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        for line in lines:
            line.pop("seconds")
        return [row.accuracy for row in rows], lines

    single = records(tmp_path / "single.jsonl", None)
    assert records(tmp_path / "ray.jsonl", workers) == single
    assert len(single[1]) == 9


def test_teacher_data_matches_the_single_process(workers, student, tmp_path):
    problems = resolve_data("task:addition?n=6&split=train&difficulty=1&seed=3")
    settings = SamplingSettings(model="builtin:student", data="addition", samples=3, max_new_tokens=32, seed=5,
                                problems_per_batch=2)
    for sample in (sample_traces, sample_pairs):
        single = sample(*student, problems, settings, tmp_path / f"{sample.__name__}.jsonl", progress=False)
        spread = sample(*student, problems, settings, tmp_path / f"{sample.__name__}.ray.jsonl", progress=False,
                        executor=workers)
        assert spread == {**single, "out": str(tmp_path / f"{sample.__name__}.ray.jsonl")}
        assert (tmp_path / f"{sample.__name__}.ray.jsonl").read_text() == \
            (tmp_path / f"{sample.__name__}.jsonl").read_text()
    assert single["sampled"] == 18


def test_grpo_with_two_rollout_workers_ends_where_one_does(workers, student, tmp_path):
    train = resolve_data("task:addition?n=20&split=train&difficulty=1")
    config = GRPOConfig(steps=3, prompts_per_step=4, group_size=4, max_new_tokens=24, learning_rate=1e-3, seed=1,
                        reward="correctness:1,format:0.5", eval_every=100, checkpoint_every=100)
    initial = weights_sha256(student[0].params)
    hashes = []
    for count in (1, 2):
        model, tokenizer = load_pretrained("builtin:student")
        if count == 1:
            # the shared pool's two actors hold the session's 2 CPUs: this one holds none
            with RayExecutor(model, tokenizer, workers=1, cpus_per_worker=0) as one:
                history = train_grpo(model, tokenizer, train, config, tmp_path / "one", progress=False,
                                     rollout_executor=one)
        else:
            history = train_grpo(model, tokenizer, train, config, tmp_path / "two", progress=False,
                                 rollout_executor=workers)
        hashes.append(weights_sha256(model.params))
        last = history["metrics"][-1]
        assert last["weight_sync_seconds"] > 0 and last["reward_seconds"] > 0 and last["rollout_seconds"] > 0
    assert hashes[0] == hashes[1] != initial


def test_a_rollout_worker_that_dies_mid_step_gives_the_same_rollouts(workers, student, tmp_path):
    train = resolve_data("task:addition?n=6&split=train&difficulty=1")
    prompts = [record["problem"] for record in train]
    marker = tmp_path / "died-once"

    def count_tokens_dying_once(rollouts):  # the first actor to score the third prompt's group dies
        if rollouts.records[0]["problem"] == prompts[2] and not marker.exists():
            marker.write_text("")
            os._exit(1)
        return int(rollouts.num_tokens.sum())

    def draw(executor):
        return sample_groups(*student, train, prompts, 3, 16, seed=11, score=count_tokens_dying_once,
                             executor=executor)

    restarts = workers.restarts
    spread, spread_scores, _ = draw(workers)
    assert marker.exists() and workers.restarts == restarts + 1
    single, single_scores, _ = draw(None)
    assert spread.completions == single.completions and spread_scores == single_scores
    assert all((a == b).all() for a, b in zip(spread.sampling_logprobs, single.sampling_logprobs))


def test_without_ray_a_one_line_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'minireason\[ray\]'"):
        import_ray()


def test_the_flags_need_ray(student):
    for flags in ({"address": "127.0.0.1:6379"}, {"workers": 2}):
        with pytest.raises(InputError, match="needs --ray"), scale_out(*student, ray=False, **flags):
            pass


def test_an_unreachable_address_fails_within_seconds(ray):
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"no Ray cluster answers there \(Connection refused\)"):
        probe_address("127.0.0.1:1")
    with socket.socket() as silent:  # takes connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        with pytest.raises(ConfigError, match=r"no Ray cluster answers there \(no answer\)"):
            probe_address(f"ray://127.0.0.1:{silent.getsockname()[1]}", seconds=1.0)
    assert time.monotonic() - started < 5
    probe_address(ray.get_runtime_context().gcs_address)  # a Ray head answers


def test_an_address_where_something_else_listens_is_refused():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        with pytest.raises(ConfigError, match="something else listens on that port"):
            probe_address(f"127.0.0.1:{server.server_address[1]}", seconds=5.0)
    finally:
        thread.join(timeout=10)
        server.server_close()


def test_ctrl_c_leaves_no_ray_process(ray, tmp_path):
    out = tmp_path / "records.jsonl"
    command = [sys.executable, "-m", "minireason", "eval", "--model", "builtin:student", "--data",
               "task:addition?n=400&split=test", "--out", str(out), "--batch-size", "1", "--max-new-tokens", "32",
               "--no-progress", "--ray", "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not (out.exists() and out.stat().st_size) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        started = descendants(process.pid) & ray_processes()
        assert started  # the command's own Ray instance
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not gone(started)
    assert 0 < len(read_records(out)) < 400
