# %% [markdown]
# # Verifiable answers
# Extract the final answer from model output and decide equivalence with a safe, time-limited grader.

# %%
from minireason import extract_answer, grade_answer

output = "We add the columns... so the result is $\\boxed{\\frac{1}{2}}$."
answer = extract_answer(output)
print("extracted:", answer)
for gold in ["0.5", "1/2", "\\dfrac12", "2"]:
    print(f"  {answer!r} vs {gold!r}: {grade_answer(answer, gold)}")

# %% [markdown]
# Structures: tuples keep order, sets do not; intervals know their ends.

# %%
cases = [("(1,2)", "(2,1)"), ("\\{1,2\\}", "\\{2,1\\}"), ("[1,2)", "[1,2]"), ("x=5", "5"), ("2\\sqrt{2}", "\\sqrt{8}")]
for pred, gold in cases:
    print(f"{pred:>12s} vs {gold:<10s} {grade_answer(pred, gold)}")

# %% [markdown]
# Model output is untrusted: it never reaches Python's eval, and every call returns within 2 s.

# %%
import time  # noqa: E402

start = time.perf_counter()
print(grade_answer("__import__('os').system('echo pwned')", "0"), grade_answer("9^{9^{9^{9}}}", "1"))
print(f"{time.perf_counter() - start:.2f} s")
