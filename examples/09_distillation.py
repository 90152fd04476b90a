# %% [markdown]
# # Distillation and preference tuning
# The built-in student (121k parameters) learns from the built-in base model (832k): first from the
# base model's verified chains of thought (rejection sampling, then SFT), then from its whole
# next-token distribution (logit distillation; on-policy: on the student's own samples). Held-out
# greedy accuracy is measured before and after on test-split problems and compared pairwise.
# The command-line version and the full-size results: docs/distillation.md.
# The budget here is cut so the script runs in under a minute (CI runs it); too few steps to move the
# held-out accuracy much: the full-size runs and their gains are in the guide.

# %%
import numpy as np

from minireason.posttrain.distill import divergence_and_gradient
from minireason.posttrain.dpo import preference_loss

# one position, four tokens: the teacher is sure of token 0, the student hesitates
teacher_logp = np.log(np.array([[0.85, 0.05, 0.05, 0.05]]))
student_logp = np.log(np.array([[0.40, 0.40, 0.10, 0.10]]))
for loss in ("fkl", "rkl", "jsd"):
    value, dlogits = divergence_and_gradient(teacher_logp, student_logp, loss, beta=0.5)
    print(f"{loss}: D = {value[0]:.4f}, dD/dz = {dlogits[0].round(3).tolist()}")  # pushes token 0 up, token 1 down

# DPO on one pair: the policy already prefers the chosen answer a little more than the reference does
value, dchosen, drejected, figures = preference_loss([-10.0], [-12.0], [-10.5], [-11.5], beta=0.5)
print(f"DPO loss {value:.4f} (log 2 = {np.log(2):.4f} at no margin), reward margin {figures['reward_margin_sum']:.2f}")

# %%
from minireason.io.pretrained import load_pretrained  # noqa: E402
from minireason.posttrain.distill import DistillConfig, train_distill  # noqa: E402
from minireason.posttrain.sft import SFTConfig, train_sft  # noqa: E402
from minireason.posttrain.teacher_data import SamplingSettings, sample_traces  # noqa: E402
from minireason.tasks.export import resolve_data  # noqa: E402

teacher, tokenizer = load_pretrained("builtin:base")
problems = resolve_data("task:addition?n=60&split=train&difficulty=3&seed=7")
held_out = resolve_data("task:addition?n=60&split=test&difficulty=3&seed=1234")  # never trained on
counts = sample_traces(teacher, tokenizer, problems, SamplingSettings(model="builtin:base", data="addition",
                                                                      samples=4), "runs/example_distill/traces.jsonl")
print(f"{counts['verified']} of {counts['sampled']} samples verified, {counts['written']} distinct traces kept")

# %%
student, _ = load_pretrained("builtin:student")
history = train_sft(student, tokenizer, "runs/example_distill/traces.jsonl",
                    SFTConfig(steps=10, batch_size=16, eval_every=0), "runs/example_distill/sft", held_out)
print("SFT on the teacher's traces:", history["paired"])  # accuracy before/after, gained, lost, McNemar p

# %%
student, _ = load_pretrained("builtin:student")
history = train_distill(student, tokenizer, teacher, tokenizer, "runs/example_distill/traces.jsonl",
                        DistillConfig(steps=5, batch_size=16, eval_every=0, loss="fkl", lambda_on_policy=1.0),
                        "runs/example_distill/on_policy", held_out)
print("on-policy distillation:", history["paired"])
print("teacher-student KL:", [round(row["kl_teacher_student"], 3) for row in history["metrics"]])
