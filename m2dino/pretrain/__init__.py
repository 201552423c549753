"""The in-house foundation backbone of the CPU profiles: a DINOv3-architecture ViT (timm's class, the profile's size)
pretrained self-supervised on unlabelled synthetic scans from all 27 task generators [ours].

Objective and budget were chosen on **val** linear probes (``probe.py``: fitted on train, scored on val; never test),
on data seed 0, not the demo's final data seed; every number per task is in ``docs/pretraining-choice.md``, and
``choice.py`` reruns them:

    python -m m2dino.pretrain.choice --out DIR --variant random=none:0 --variant mim200=mim:200 \
        --variant mim400=mim:400 --variant mim800=mim:800 --variant dino235=dino:235:64 \
        profile=demo data.seed=0 data.eval_per_task=128

Setting: demo profile (96-d, 6 blocks, patch 16, 64 px, 2,160 unlabelled images), pretrain seed 0, one torch
thread, 10 probe tasks with 128 val images each, synthetic data; CPU seconds of the pretraining as measured by the
process on a 2-core machine shared by ~8 jobs (load average 13-20, 2026-12-03), so only their ratios mean anything.

Objective: SimMIM-style masked image modelling (``mim``). DINO self-distillation (``dino``: 2 global + 4 local crops,
batch 64, 235 steps, 162 CPU s) was still in its early phase (loss rising 6.68 -> 6.93) and was worse than random init
with a paired 95% CI below 0 on 2 of 10 val probes (fetal_head Dice 0.52 -> 0.45, cardiac_multi 0.23 -> 0.17), better
on 1 (organ_cls AUC 0.88 -> 0.93). MIM with 200 steps at batch 128 (68 CPU s, less than half of DINO's) beat DINO
with a CI above 0 on 8 of 10 and random init on 7 of 10 (e.g. lung_disease_3cls AUC 0.65 -> 0.82, fetal_head Dice
0.52 -> 0.58, fetal_femur MRE 2.85 -> 2.43 px), worse on none. MIM is one view and one forward per image with every
masked patch a target; DINO pays a teacher forward and six views per image and needs many more steps before its
prototypes organise. DINO stays available (``pretrain.objective=dino``) for larger budgets.

Budget: 800 steps at batch 128 (80 images per generator, not varied). Each budget was a complete run with its own
warmup and cosine schedule (MIM loss over the last 10% of steps: 200 steps 0.51, 400 steps 0.40, 800 steps 0.35;
68, 130 and 261 CPU s). The rule, fixed in ``choice.py`` before the runs: the smallest budget whose paired 95% CI of
the change against the largest budget lies below 0 on no probe task. 200 steps was worse than 800 on 6 of 10
(breast_lesion Dice 0.15 -> 0.02); 400 steps was worse on 1 of 10 (cardiac_multi Dice 0.275 -> 0.260, change -5.4%
[-8.1, -2.7]) and within the CI on the other 9; so the rule keeps 800. 800 steps beat random init on all 10 val
probes with CIs above 0. The flat loss after ~400 steps is not flat in the probes.

One file per job: ``images`` (unlabelled images, their own seed namespace), ``augment`` (batched random views),
``mim`` and ``dino`` (the objectives), ``loop`` (the training loop), ``store`` (cache, safetensors in timm's keys,
``model.weights=pretrained:inhouse`` resolution), ``probe`` (linear probes against random init, on val), ``choice``
(the objective and budget experiments), ``plots`` (the figure).
"""
from m2dino.pretrain.store import INHOUSE, backbone_path, ensure_pretrained, resolve_weights, with_resolved_weights

__all__ = ["INHOUSE", "backbone_path", "ensure_pretrained", "resolve_weights", "with_resolved_weights"]
