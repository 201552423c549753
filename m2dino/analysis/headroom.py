"""The headroom score lives in ``m2dino.metrics.headroom`` (model selection in ``m2dino.train`` uses it too, and train
may not import analysis); re-exported here for the analysis code."""
from m2dino.metrics.headroom import CHANCE_AUC, PERFECT, headroom_score, task_headroom

__all__ = ["CHANCE_AUC", "PERFECT", "headroom_score", "task_headroom"]
