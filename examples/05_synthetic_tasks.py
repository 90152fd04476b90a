# %% [markdown]
# # The built-in synthetic verifiable tasks
# Four families with seeded generators, verifiers, reasoning traces and train/test splits decided by a hash.

# %%
from minireason.evaluation.prompts import PromptSpec
from minireason.tasks import FAMILIES, generate_problems
from minireason.tasks.base import render_completion

for name, family in FAMILIES.items():
    problem = generate_problems(name, 1, split="test", seed=0)[0]
    print(f"== {name} (difficulty {problem.difficulty}, split {problem.split})")
    print(PromptSpec("cot").text(problem.text) + render_completion(problem, "cot"))
    print("verifier accepts the gold answer:", family.verify(problem, problem.answer))
    print()
