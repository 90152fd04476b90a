# %% [markdown]
# # Inference-time scaling
# Spend more compute at inference for accuracy: chain-of-thought, self-consistency (majority vote over
# sampled chains), best-of-N, self-refinement. Every method reports the tokens it generated.
# The command-line version: `minireason scale --model builtin:base --data "task:arithmetic?n=30" ...`.

# %%
from minireason.scaling.metrics import pass_at_k

# the unbiased pass@k estimator: n samples of which c are correct
print("pass@1, pass@4 with 16 samples, 4 correct:", pass_at_k(16, 4, 1), pass_at_k(16, 4, 4))

# %%
from minireason.cli.scale import run_scaling_comparison  # noqa: E402
from minireason.scaling.runner import format_table  # noqa: E402

rows, paths = run_scaling_comparison("builtin:base", "task:arithmetic?n=100&split=test&seed=0&difficulty=2", "greedy,cot,sc@4",
                                     "runs/example_scaling", 12, 0, 120, 0.8, 1.0, "auto", 32, True)
print(format_table(rows))
print("records and plot in", paths)
