"""The in-house foundation backbone of the CPU profiles: a DINOv3-architecture ViT (timm) pretrained
self-supervised on unlabelled synthetic scans of all 27 task generators.

One file per job: ``images`` (unlabelled images, their own seed namespace), ``augment`` (batched random views),
``dino`` and ``mim`` (the objectives), ``loop`` (the training loop), ``store`` (cache, safetensors in timm's keys,
``model.weights=pretrained:inhouse`` resolution), ``probe`` (linear probes against random init), ``report``
(loss-curve and probe figures).
"""
from m2dino.pretrain.store import INHOUSE, backbone_path, ensure_pretrained, resolve_weights

__all__ = ["INHOUSE", "backbone_path", "ensure_pretrained", "resolve_weights"]
