"""The Hydra application for sweeps: paradigms x groups x seeds through Hydra's launchers (no home-made job runner).

    python -m m2dino.train.app -m paradigm=single,clinical,all seed=0,1,2 profile=demo hydra/launcher=local
    python -m m2dino.train.app -m paradigm=single,clinical,all seed=0,1,2 profile=paper hydra/launcher=slurm

Each job trains (or loads from cache, or resumes) every unit of its paradigm for its seed, exactly as
``python -m m2dino train`` does; restrict with ``unit=`` or ``tasks=`` as there. Launcher configs live in
``m2dino/conf/hydra/launcher/`` (``local``: joblib; ``slurm``: submitit). Hydra's own job folders go to
``multirun/`` (or ``outputs/``); the runs themselves go to ``results/<profile>/...``.
"""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from m2dino.train.paradigms import run_paradigm


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> list[str]:
    from m2dino.synth.source import require_test_split
    from m2dino.data.validate import raise_if_invalid
    from m2dino.grouping import paradigm_units
    from m2dino.paths import data_root
    from m2dino.pretrain.store import check_weights

    check_weights(cfg)
    tasks = sorted({t for ids in paradigm_units(cfg).values() for t in ids})
    raise_if_invalid(data_root(cfg), tasks)
    require_test_split(data_root(cfg), tasks)
    return [str(p) for p in run_paradigm(cfg, progress=False)]


if __name__ == "__main__":
    main()
