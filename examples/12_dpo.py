# %% [markdown]
# # Preference tuning with DPO
# Preference pairs from the model's own samples: per problem, one verified chain of thought (chosen)
# and one wrong one (rejected), both judged by the one judge. DPO then raises the policy's log-ratio
# to a frozen reference on the chosen completion against the rejected one:
# loss = -log sigmoid(beta * ((chosen - chosen_ref) - (rejected - rejected_ref))).
# The command-line version: `minireason dpo-data ...` then `minireason dpo ...`; docs/distillation.md.

# %%
import numpy as np

from minireason.io.pretrained import load_pretrained
from minireason.posttrain.dpo import DPOConfig, preference_loss, train_dpo
from minireason.posttrain.teacher_data import SamplingSettings, sample_pairs
from minireason.tasks.export import resolve_data

# the loss and its gradient on one pair, with a log-ratio margin of 1 and of 2 nats in favour of "chosen"
for chosen in (-10.0, -9.0):
    value, dchosen, drejected, figures = preference_loss([chosen], [-12.0], [-10.0], [-11.0], beta=0.5)
    print(f"margin {figures['reward_margin_sum'] / 0.5:+.1f} nats: loss {value:.4f}, "
          f"dloss/dchosen {float(np.ravel(dchosen)[0]):+.4f}, dloss/drejected {float(np.ravel(drejected)[0]):+.4f}")

# %%
model, tokenizer = load_pretrained("builtin:base")
problems = resolve_data("task:addition?n=60&split=train&difficulty=3&seed=5")
held_out = resolve_data("task:addition?n=60&split=test&difficulty=3&seed=1234")  # never trained on
counts = sample_pairs(model, tokenizer, problems, SamplingSettings(model="builtin:base", data="addition", samples=4),
                      "runs/example_dpo/pairs.jsonl", progress=False)
print(f"{counts['written']} preference pairs from {len(problems)} problems")

# %%
history = train_dpo(model, tokenizer, "runs/example_dpo/pairs.jsonl",
                    DPOConfig(steps=8, batch_size=16, beta=0.1, eval_every=0), "runs/example_dpo/dpo", held_out,
                    progress=False)
last = history["metrics"][-1]
print(f"preference accuracy at the last step: {last['preference_accuracy']:.2f}")
print("DPO:", history["paired"])  # accuracy before/after, gained, lost, McNemar p
