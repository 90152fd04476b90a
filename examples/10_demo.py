# %% [markdown]
# # Every stage, live and measured (`minireason demo`)
# The main job as a Python call: decode speed with and without the KV cache, direct answers, chain of
# thought and the inference-time scaling methods against the tokens they spend, GRPO from the base
# model, and the built-in student distilled from it, every figure measured in this run on held-out
# problems. `DemoSettings.quick()` is the reduced budget CI runs (seconds); `DemoSettings()` is the
# full demo (1,000 held-out problems, a few minutes on 2 cores). Each row that compares two methods
# carries the paired comparison: problems gained, problems lost and the exact McNemar p-value.

# %%
from minireason.demo import DemoSettings, format_rows, run_demo

report = run_demo(DemoSettings.quick(), out_dir="runs/example_demo", log=print)
print(format_rows(report.rows))

# %% [markdown]
# The targets of the full demo, judged from what this run measured (on the quick budget the figures
# are too small to mean much; run `minireason demo` for the real ones):

# %%
for target in report.targets:
    print(target)
print("files:", sorted(path.name for path in report.out_dir.iterdir()))
