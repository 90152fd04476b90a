"""Distillation and preference tuning: trace data, losses with hand-derived gradients, trainers.

* ``data.py``      teacher traces / (prompt, completion) / preference records -> token sequences
                   (plain task format or the Qwen3 chat template), length filter, hash split, buckets
* ``losses.py``    forward KL, reverse KL, generalised JSD at a temperature, teacher top-k; DPO and IPO
* ``teacher.py``   the shared-tokenizer check and the teacher's distribution over a packed batch
* ``sampling.py``  rejection-sampled traces (``minireason distill-data``) and preference pairs
                   (``minireason dpo-data``) through the one rollout path and the one judge
* ``trainers.py``  SFT, logit distillation (off- and on-policy) and DPO on the shared training loop:
                   ``train_sft``, ``train_distill``, ``train_dpo``

Derivations and measured results: docs/distillation.md.
"""
