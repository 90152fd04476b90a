# %% [markdown]
# # A Qwen3 decoder with a hand-written backward pass
# Build a tiny random model, run a forward pass, compute a loss, run the backward pass, and
# check one gradient entry against a finite difference. Run: `python examples/01_model_forward_backward.py`.

# %%
import numpy as np

from minireason import ModelConfig, Qwen3Model
from minireason.nn.loss import cross_entropy_loss

config = ModelConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=8)
model = Qwen3Model.from_config(config, seed=0, dtype="float64")
print(f"{model.num_parameters():,} parameters; names are the Hugging Face ones, e.g.")
for name in list(model.params)[:4]:
    print(f"  {name:45s} {model.params[name].shape}")

# %% [markdown]
# Forward: logits for every position. The cache holds exactly what each op's backward needs.

# %%
rng = np.random.default_rng(0)
tokens = rng.integers(0, config.vocab_size, (2, 9))  # (B, T+1)
inputs, targets = tokens[:, :-1], tokens[:, 1:]
logits, cache = model.forward(inputs)  # (B, T, V)
loss, dlogits = cross_entropy_loss(logits, targets)
print(f"loss {loss:.4f}  (a uniform guess gives ln V = {np.log(config.vocab_size):.4f})")

# %% [markdown]
# Backward: the mirror image of the forward, one op at a time, no autograd.

# %%
grads = model.backward(dlogits, cache)
name = "model.layers.1.self_attn.q_norm.weight"
step = 1e-6
model.params[name][3] += step
loss_plus, _ = cross_entropy_loss(model.logits(inputs), targets)
model.params[name][3] -= 2 * step
loss_minus, _ = cross_entropy_loss(model.logits(inputs), targets)
model.params[name][3] += step
print(f"d loss / d {name}[3]: backward {grads[name][3]:.8f}, finite difference {(loss_plus - loss_minus) / (2 * step):.8f}")

# %% [markdown]
# Train it: AdamW on one sequence until it is memorised.

# %%
from minireason.optim import AdamW, clip_grad_norm  # noqa: E402

optimizer = AdamW(learning_rate=1e-2)
for step_index in range(60):
    loss, grads = model.loss_and_grads(inputs, targets)
    grads, norm = clip_grad_norm(grads, 1.0)
    optimizer.step(model.params, grads)
    if step_index % 20 == 0:
        print(f"step {step_index:3d} loss {loss:.4f} grad norm {norm:.3f}")
print(f"final loss {model.loss_and_grads(inputs, targets)[0]:.4f}")
