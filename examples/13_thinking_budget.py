# %% [markdown]
# # Thinking budgets
# One greedy chain of thought whose `<think>` block may hold at most N tokens: when the row has spent N
# thinking tokens, generation forces `</think>` and the model answers from what it has thought so far
# (Qwen3's thinking budget). Accuracy against the budget shows how much of its reasoning the model
# needs; every forced token is counted as spent.
# The command-line version: `minireason scale --methods cot,budget@8,budget@16,budget@32,budget@64 ...`.
# Derivations and the measured curve: docs/scaling.md.

# %%
from minireason.generation.generate import generate
from minireason.io.pretrained import load_pretrained
from minireason.scaling.thinking_budget import budget_for

model, tokenizer = load_pretrained("builtin:base")
prompt = "Compute 607+879. Think step by step.\n"
for budget in (4, 12, 64):
    out = generate(model, tokenizer, [prompt], max_new_tokens=80, temperature=0.0, thinking_budget=budget_for(budget))
    print(f"budget {budget:2d}:", out[0].text.replace("\n", " | "))

# %%
from minireason.cli.scale import run_scaling_comparison  # noqa: E402
from minireason.scaling.runner import format_table  # noqa: E402

rows, paths = run_scaling_comparison("builtin:base", "task:addition?n=100&split=test&seed=3&difficulty=3",
                                     "cot,budget@8,budget@16,budget@32,budget@64", "runs/example_budget",
                                     limit=30, seed=0, max_new_tokens=120, temperature=0.8, top_p=1.0,
                                     prompt_format="auto", batch_size=32, quiet=True)
print(format_table(rows))
