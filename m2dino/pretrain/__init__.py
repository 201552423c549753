"""The in-house foundation backbone of the CPU profiles: a DINOv3-architecture ViT (timm's class, the profile's
size) pretrained self-supervised on unlabelled synthetic scans from all 27 task generators [ours].

Objective: SimMIM-style masked image modelling (``mim``), chosen by measurement. On the demo profile (96-d, 6 blocks,
64 px, 1,080 unlabelled images), one torch thread of this 2-core CPU, 150 s of pretraining each, then the linear
probes of ``probe.py`` on 8 tasks (64 train / 48 test images each, pretrain seed 0, synthetic data):
- ``mim`` (batch 128, 375 steps, loss 1.24 -> 0.41) beat random init with a paired 95% CI above 0 on 5 of 8 tasks
  (organ_cls AUC 0.80 -> 0.96, breast_3cls 0.47 -> 0.76, fetal_head Dice 0.52 -> 0.63, cardiac_multi 0.23 -> 0.26,
  fetal_femur MRE 2.45 -> 2.14 px) and was worse on none;
- ``dino`` (2 global + 2 local crops, batch 64, 221 steps) was still in its early phase (loss rising 6.1 -> 6.9) and
  was worse than random init on 3 of 8 (fetal_head, cardiac_multi, fetal_femur), better on none.
MIM is one view and one forward per image, and every masked patch is a target; DINO pays a teacher forward and four
views per image and needs many more steps before its prototypes organise. DINO stays available
(``pretrain.objective=dino``) for larger budgets.

One file per job: ``images`` (unlabelled images, their own seed namespace), ``augment`` (batched random views),
``mim`` and ``dino`` (the objectives), ``loop`` (the training loop), ``store`` (cache, safetensors in timm's keys,
``model.weights=pretrained:inhouse`` resolution), ``probe`` (linear probes against random init), ``report`` (the
figure).
"""
from m2dino.pretrain.store import INHOUSE, backbone_path, ensure_pretrained, resolve_weights, with_resolved_weights

__all__ = ["INHOUSE", "backbone_path", "ensure_pretrained", "resolve_weights", "with_resolved_weights"]
