"""Score a prediction folder in the challenge's format against a dataset's ground truth, with the training metrics.

    python -m m2dino evaluate data.root=DIR predictions=OUT [split=test] [tasks=[...]]

Scores every task that has predictions in ``OUT`` (or the given ``tasks``), in original-image pixels, with a
bootstrap 95% CI of each primary metric (``train.n_boot`` resamples). Prints the table and writes it to
``OUT/scores_<split>.csv``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from m2dino import atomic
from m2dino.config import load

HELP = "score a prediction folder in the challenge format (data.root=DIR predictions=OUT [split=test])"


def tasks_with_predictions(pred_dir: Path, truth: dict[str, list[dict]]) -> list[str]:
    """Tasks of ``truth`` for which ``pred_dir`` holds predictions (a JSON record, or a mask file)."""
    from m2dino.metrics import mask_prediction_path
    from m2dino.metrics.submission import PRED_FILES
    from m2dino.registry import get_task

    in_json = set()
    for name in PRED_FILES.values():
        f = pred_dir / name
        if f.is_file():
            in_json |= {r.get("task_id") for r in json.loads(f.read_text()) if isinstance(r, dict)}
    keep = []
    for tid, recs in truth.items():
        if get_task(tid).type == "segmentation":
            if any(mask_prediction_path(pred_dir, r["mask_path"]).is_file() for r in recs):
                keep.append(tid)
        elif tid in in_json:
            keep.append(tid)
    return keep


def main(argv: list[str]) -> int:
    from m2dino.metrics import score_submission
    from m2dino.paths import data_root
    from m2dino.data.truth import truth_records

    cfg = load(argv)
    if not cfg.predictions:
        print("evaluate: give predictions=OUT (and data.root=DIR)", file=sys.stderr)
        return 2
    pred_dir, root, split = Path(cfg.predictions), data_root(cfg), str(cfg.split)
    if not pred_dir.is_dir():
        print(f"evaluate: no prediction folder {pred_dir}", file=sys.stderr)
        return 1
    truth = truth_records(root, list(cfg.tasks) if cfg.tasks else None, split)
    tasks = list(cfg.tasks) if cfg.tasks else tasks_with_predictions(pred_dir, truth)
    if not tasks:
        print(f"evaluate: {pred_dir} holds no predictions for the {split} split of {root}", file=sys.stderr)
        return 1
    scores = score_submission(pred_dir, {t: truth[t] for t in tasks}, n_boot=int(cfg.train.n_boot),
                              seed=int(cfg.seed))
    print(scores.round(4).to_string(index=False))
    out = pred_dir / f"scores_{split}.csv"
    atomic.to_csv(scores, out, index=False)
    print(f"\n{len(tasks)} task(s) scored ({split} split of {root}); table written to {out}")
    return 0
