# %% [markdown]
# # Text generation with a KV cache
# Greedy and sampled decoding from the built-in base model; batched prompts of different lengths;
# streaming; the log-probabilities RL needs.

# %%
import minireason as mr

model, tokenizer = mr.load_pretrained("builtin:base")
prompts = ["Compute 47+38. Think step by step.\n", "Solve 4x+2=3x+7. Think step by step.\n"]
for result in mr.generate(model, tokenizer, prompts, max_new_tokens=80):  # greedy (temperature 0)
    print(repr(result.text), result.finish_reason, f"{len(result.token_ids)} tokens")

# %% [markdown]
# Sampling: temperature, then top-k / top-p / min-p filters. The same seed gives the same samples.

# %%
samples = mr.generate(model, tokenizer, ["Compute 597-365. Think step by step.\n"] * 4, max_new_tokens=80, temperature=0.8, top_p=0.95, seed=0)
for result in samples:
    mean_logprob = result.logprobs.mean()
    print(f"{result.text.splitlines()[-1]:>16s}  mean log-prob under the model {mean_logprob:.3f}")

# %% [markdown]
# Streaming: text arrives as whole characters, never half a UTF-8 sequence.

# %%
for piece in mr.stream_generate(model, tokenizer, prompts[1], max_new_tokens=80):
    print(piece, end="", flush=True)
print()
