"""Post-training: one file per method on the shared training step, loop and run.

* ``sft.py``        supervised fine-tuning (masked mean NLL); the sequence trainer distillation extends
* ``distill.py``    logit distillation (fkl / rkl / jsd at a temperature, teacher top-k, on-policy)
* ``dpo.py``        DPO and IPO against a frozen reference; the preference trainer other pairwise
                    methods plug into
* ``simpo.py``      SimPO: reference-free, length-normalised, with a target margin
* ``grpo.py``       GRPO and its variants (policy losses in ``policy_losses.py``)

Shared: ``data.py`` (traces, pairs, length buckets, micro-batches), ``reference.py`` (the frozen
reference and its resume check), ``run.py`` (the data-driven methods' eval hook and run),
``teacher.py``, ``advantages.py``, ``rewards.py``, ``teacher_data.py`` and ``report.py``
(``minireason distill-data`` / ``dpo-data``).  Derivations: docs/distillation.md, docs/rl.md.
"""
