"""Challenge-compatible metrics (FMC_UIA conventions), bootstrap intervals and the submission format.

One file per job: ``segmentation``, ``classification``, ``detection``, ``regression`` (the metrics), ``evaluate``
(one task's summary and per-image table), ``bootstrap`` (intervals and paired changes), ``headroom`` (the headroom
score s that model selection and Δs use), ``submission`` (the challenge's prediction format).
"""
from m2dino.metrics.bootstrap import bootstrap_ci, paired_bootstrap_change
from m2dino.metrics.evaluate import primary_from_per_image, primary_resampled, score_task
from m2dino.metrics.submission import SubmissionWriter, load_submission, mask_prediction_path, score_submission

__all__ = ["score_task", "primary_from_per_image", "primary_resampled", "bootstrap_ci", "paired_bootstrap_change",
           "SubmissionWriter", "load_submission", "mask_prediction_path",
           "score_submission"]
