"""Classification metrics as the FMC_UIA evaluator computes them [C], with scikit-learn.

- AUC from class probabilities: binary, the positive-class column (``probs[:, 1]``); multi-class, macro one-vs-rest.
- Accuracy, macro and weighted F1 (``zero_division=0``, over the labels present in truth or prediction, as
  scikit-learn does when no label list is given, which is the challenge's call), Matthews correlation.
- Hard predictions are the submitted ``predicted_class`` where one is given (the challenge scores that field), else
  the argmax of the probabilities.

Degenerate cases [ours] (the challenge's evaluator scores AUC 0.0 whenever scikit-learn raises; we don't copy that):
- Only one class present in the truth: AUC is undefined; we return NaN with a warning.
- Multi-class with some classes absent from the truth (but at least two present): one-vs-rest AUC of an absent class
  is undefined, so the macro average runs over the classes present in the truth, with a warning. With every class
  present this is exactly scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")``.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import f1_score, matthews_corrcoef, roc_auc_score


class UndefinedAUCWarning(UserWarning):
    """AUC could not be computed over all classes (a class is missing from the truth)."""


def check_inputs(labels: np.ndarray, probs: np.ndarray, num_classes: int, where: str = "") -> None:
    at = f" ({where})" if where else ""
    if probs.ndim != 2 or probs.shape[1] != num_classes:
        raise ValueError(f"class probabilities must be [N, {num_classes}]{at}; got {probs.shape}")
    if labels.shape != (probs.shape[0],):
        raise ValueError(f"{labels.shape[0] if labels.ndim else 1} labels for {probs.shape[0]} probability rows{at}")
    if not np.isfinite(probs).all():
        raise ValueError(f"class probabilities hold NaN or inf{at}")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(f"labels {sorted(set(bad.tolist()))[:5]} outside 0..{num_classes - 1}{at}")


def auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """AUC of probabilities ``probs`` [N, C] against integer ``labels`` [N] (see the module notes)."""
    num_classes = probs.shape[1]
    present = np.unique(labels)
    if present.size < 2:
        warnings.warn(f"AUC is undefined with a single class ({present.tolist()}) in the truth; returning NaN",
                      UndefinedAUCWarning, stacklevel=2)
        return float("nan")
    if num_classes == 2:
        return float(roc_auc_score(labels, probs[:, 1]))
    if present.size == num_classes:
        return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))
    missing = sorted(set(range(num_classes)) - set(present.tolist()))
    warnings.warn(f"classes {missing} are absent from the truth; macro one-vs-rest AUC averages the "
                  f"{present.size} classes present", UndefinedAUCWarning, stacklevel=2)
    return float(np.mean([roc_auc_score(labels == c, probs[:, c]) for c in present]))


def _binary_auc_weighted(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC (ties count one half, as ``roc_auc_score``) under each row of ``weights`` [B, N] (how often
    each image is drawn in a resample); NaN for rows without both a positive and a negative."""
    uniq, group = np.unique(score, return_inverse=True)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(uniq.size))
    w = weights[:, order]
    pos = np.add.reduceat(w * positive[order], starts, axis=1)  # [B, groups of tied scores]
    neg = np.add.reduceat(w * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(1)
    den = pos.sum(1) * neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def auc_weighted(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC on many resamples at once: row b of ``weights`` [B, N] counts how often each image is drawn. Same
    conventions as :func:`auc` (NaN where the resample holds one class; macro over the classes present), silently."""
    if probs.shape[1] == 2:
        return _binary_auc_weighted(labels == 1, probs[:, 1], weights)
    per_class = np.stack([_binary_auc_weighted(labels == c, probs[:, c], weights)
                          for c in range(probs.shape[1])], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: the resample holds a single class
        return np.nanmean(per_class, axis=1)


def metrics(labels: np.ndarray, probs: np.ndarray, predicted: np.ndarray | None = None) -> dict[str, float]:
    """``auc``, ``accuracy``, ``f1_macro``, ``f1_weighted``, ``mcc`` of one task."""
    pred = probs.argmax(1) if predicted is None else predicted
    return {"auc": auc(labels, probs),
            "accuracy": float(np.mean(labels == pred)),
            "f1_macro": float(f1_score(labels, pred, average="macro", zero_division=0)),
            "f1_weighted": float(f1_score(labels, pred, average="weighted", zero_division=0)),
            "mcc": float(matthews_corrcoef(labels, pred))}
