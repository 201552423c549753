"""Challenge-compatible metrics (FMC_UIA conventions), bootstrap intervals and the submission format.

One file per job: ``segmentation``, ``classification``, ``detection``, ``regression`` (the metrics), ``evaluate``
(one task's summary and per-image table), ``bootstrap`` (intervals and paired changes), ``normalise`` (primary
metric to [0, 1] for model selection), ``submission`` (the challenge's prediction format).
"""
from m2dino.metrics.bootstrap import bootstrap_ci, paired_bootstrap_change
from m2dino.metrics.evaluate import primary_from_per_image, primary_resampled, score_task
from m2dino.metrics.normalise import mean_image_size, normalised_primary
from m2dino.metrics.submission import SubmissionWriter, load_submission, mask_prediction_path, score_submission

__all__ = ["score_task", "primary_from_per_image", "primary_resampled", "bootstrap_ci", "paired_bootstrap_change",
           "normalised_primary", "mean_image_size", "SubmissionWriter", "load_submission", "mask_prediction_path",
           "score_submission"]
