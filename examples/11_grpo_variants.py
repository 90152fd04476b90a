# %% [markdown]
# # An improved GRPO (Dr. GRPO with DAPO's clip-higher and dynamic sampling)
# The same trainer as stage 5 with three changes that the literature found to matter: Dr. GRPO's
# advantage (the reward minus the group mean, never divided by the group's standard deviation) with a
# constant normaliser instead of each completion's own length; DAPO's clip-higher (more room to
# raise unlikely good tokens, which fights entropy collapse); and DAPO's dynamic sampling (draw more
# prompts until every group of the step has a right and a wrong answer).
# The command-line version: `minireason grpo --advantage dr --clip-high 0.28 --dynamic-sampling ...`.
# Derivations: docs/rl.md.

# %%
import numpy as np

from minireason.io.pretrained import load_pretrained
from minireason.posttrain.advantages import group_advantages
from minireason.posttrain.grpo import GRPOConfig, train_grpo
from minireason.posttrain.policy_losses import aggregation_weights
from minireason.tasks.export import resolve_data

# the two advantages on one group of rewards: the std division inflates a nearly-solved group
rewards = np.array([1.0, 1.0, 1.0, 0.0])
print("group (GRPO):", group_advantages(rewards, group_size=4, mode="group").round(3).tolist())
print("dr (Dr. GRPO):", group_advantages(rewards, group_size=4, mode="dr").round(3).tolist())

# a short and a long completion: token-mean weighs every token the same whatever the batch holds, the
# constant normaliser divides every sequence by the same max_length
mask = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
print("seq-mean-token-mean:", aggregation_weights(mask, "seq-mean-token-mean")[:, 0].round(3).tolist())
print("seq-mean-token-sum-norm:", aggregation_weights(mask, "seq-mean-token-sum-norm", max_length=8)[:, 0].round(4).tolist())

# %%
model, tokenizer = load_pretrained("builtin:base")
train_records = resolve_data("task:addition?n=2000&split=train&difficulty=3")
held_out = resolve_data("task:addition?n=60&split=test&difficulty=3&seed=99")  # test split: never trained on
config = GRPOConfig(steps=3, prompts_per_step=4, group_size=8, learning_rate=1e-4, eval_every=3,
                    advantage="dr", clip_high=0.28, dynamic_sampling=True, max_sampling_tries=3)
history = train_grpo(model, tokenizer, train_records, config, "runs/example_grpo_variants", held_out)
for row in history["metrics"]:
    print(f"step {row['step']:2d}  reward {row['reward_mean']:.3f}  groups trained {row['groups_trained']}  "
          f"sampling tries {row['sampling_tries']}  clipped high {row['clip_fraction_high']:.3f}")
print(history["paired"])  # accuracy before/after, problems gained and lost, McNemar p-value
