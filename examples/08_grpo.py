# %% [markdown]
# # Reinforcement learning with verifiable rewards (GRPO)
# The built-in base model samples several chains of thought per 3-digit addition; the task's verifier
# says which answers are right; the group-relative advantage pushes up the right ones. Held-out greedy
# accuracy is measured before and after on problems never trained on, and compared pairwise.
# The command-line version: `minireason grpo --model builtin:base --data "task:addition?..." ...`.
# Derivations: docs/rl.md.
# The budget here is cut so the script runs in under a minute (CI runs it); too few steps to move the
# held-out accuracy much: the full-size runs and their gains are in the guide.

# %%
import numpy as np

from minireason.posttrain.advantages import group_advantages
from minireason.posttrain.policy_losses import (
    PolicyBatch,
    PolicyLossSettings,
    aggregation_weights,
    policy_loss,
)

# one prompt, four samples: two right, two wrong -> the right ones get +, the wrong ones -
rewards = np.array([1.0, 0.0, 1.0, 0.0])
advantages = group_advantages(rewards, group_size=4)
print("advantages:", advantages.round(3))

# the PPO-clip loss on made-up log-probabilities: its gradient vanishes where the clip binds
logp = np.log(np.array([[0.5, 0.9], [0.3, 0.1], [0.6, 0.6], [0.2, 0.05]]))  # (N, T) under the new policy
old_logp = np.log(np.array([[0.3, 0.6], [0.3, 0.2], [0.6, 0.6], [0.2, 0.1]]))  # under the sampler
mask = np.ones(logp.shape, dtype=bool)
batch = PolicyBatch(mask=mask, weights=aggregation_weights(mask, "token-mean"), advantages=advantages,
                    old_logp=old_logp)
loss, dlogp, _, figures = policy_loss(logp, None, batch, PolicyLossSettings(loss="ppo"))
print("ratios:", np.exp(logp - old_logp).round(2).tolist())
print("dloss/dlogp:", dlogp.round(3).tolist(), "clipped high/low:", figures["clipped_high"], figures["clipped_low"])

# %%
from minireason.io.pretrained import load_pretrained  # noqa: E402
from minireason.posttrain.grpo import GRPOConfig, train_grpo  # noqa: E402
from minireason.tasks.export import resolve_data  # noqa: E402

model, tokenizer = load_pretrained("builtin:base")
train_records = resolve_data("task:addition?n=2000&split=train&difficulty=3")
held_out = resolve_data("task:addition?n=60&split=test&difficulty=3&seed=99")  # test split: never trained on
config = GRPOConfig(steps=3, prompts_per_step=4, group_size=8, temperature=1.0, learning_rate=1e-4, eval_every=3)
history = train_grpo(model, tokenizer, train_records, config, "runs/example_grpo", held_out)
for row in history["metrics"]:
    print(f"step {row['step']:3d}  reward {row['reward_mean']:.3f}  zero-std groups {row['zero_std_fraction']:.2f}  "
          f"mismatch {row['logprob_mismatch_max']:.1e}")
print(history["paired"])  # accuracy before/after, problems gained and lost, McNemar p-value
