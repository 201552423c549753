"""Write a trained run's predictions for one split in the challenge's submission format.

    python -m m2dino predict run=results/demo/all/all/seed0 data.root=DIR out=OUT [split=test]

Uses the run's best checkpoint and its config (model, input size); ``data.root`` may point at any dataset in the
FMC_UIA layout, e.g. the real release (``split=val``: its test set is hidden). Predictions are in original-image
pixels: masks as PNGs at ``OUT/<mask_path>``, the other types as JSON records (docs/challenge-layout.md). Score them
with ``python -m m2dino evaluate data.root=DIR predictions=OUT``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from m2dino.config import load

HELP = "write a run's predictions in the challenge format (run=RUN_DIR data.root=DIR out=OUT [split=test])"


def main(argv: list[str]) -> int:
    from m2dino import runs
    from m2dino.metrics import SubmissionWriter
    from m2dino.paths import data_root
    from m2dino.train import checkpoint
    from m2dino.train.evaluation import predict
    from m2dino.model import build_model
    from m2dino.train.run import resolve_device

    cfg = load(argv)
    if not cfg.run or not cfg.out:
        print("predict: give run=RUN_DIR and out=OUT (and data.root=DIR)", file=sys.stderr)
        return 2
    run, out = Path(cfg.run), Path(cfg.out)
    state = runs.state(run)
    if state != runs.FINISHED or not (run / "best.pt").is_file():
        why = {runs.STALE: "it finished under an older code version (RESULTS_VERSION); retrain it",
               runs.PARTIAL: "it has not finished; rerun its training to finish it"}.get(state, "not a run folder")
        print(f"predict: {run} is not a finished run: {why}", file=sys.stderr)
        return 1
    rc = OmegaConf.create(runs.read_config(run))
    # the dataset given on the command line, else the run's own (not this command's default profile's)
    rc.data.root = str(data_root(cfg) if cfg.data.get("root") else data_root(rc))
    rc.model.weights = None  # best.pt holds every weight, so the model starts from nothing and loads it
    tasks = list(rc.tasks)
    from m2dino.data.build import build_datasets

    datasets = build_datasets(rc, tasks, str(cfg.split), train=False)
    device = resolve_device(rc)
    model = build_model(rc, tasks).to(device)
    model.load_state_dict(checkpoint.load(run / "best.pt", device)["model"])
    n = 0
    with SubmissionWriter(out) as writer:
        for task_id, ds in datasets.items():
            preds, _, paths, _ = predict(model, ds, task_id, device, batch_size=max(32, int(rc.train.batch_size)),
                                         with_targets=False)
            for i, (pred, path) in enumerate(zip(preds, paths)):
                writer.add(task_id, path, pred, mask_path=getattr(ds.records[i], "mask_path", None))
                n += 1
    print(f"wrote {n} predictions of {len(datasets)} task(s) ({cfg.split} split of {rc.data.root}) to {out}")
    return 0
