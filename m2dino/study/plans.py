"""What a reproduction trains, as plans: lists of override lists for the trainer (``m2dino.study.schedule`` trains
them, only what is not finished).

- ``main``: TS, CG and AU over the 27 tasks.
- ``data_scale/frac<f>``: for a data-rich group (obstetrics) and a data-scarce one (breast), TS and CG on that group's
  tasks and AU on all 27 tasks (``analysis.yaml: data_scale_au_tasks``), each with ``data.fraction=f`` of every
  task's training split (the test sets are unchanged). The AU runs are shared by both groups. Fraction 1.0 is the main experiment, not retrained.
  Optimiser steps are held constant across fractions: a run at fraction f trains ``epochs / f`` epochs and validates
  every ``eval_every / f`` epochs, so that a smaller training set is not also a shorter training (which would
  confound data scale with budget).
- ``ablation_dense``: AU with the MoE switched off (``model.moe.enabled=false``).
- ``fmc_baseline``: AU with the challenge's baseline architecture (``model=fmc_baseline``). No verdict reads it: it
  is in the paper profile's plan, and an opt-in elsewhere (``side_baseline`` in ``conf/analysis.yaml``;
  :func:`baseline_command` says how to train it).
- ``affinity_groups/<hash>``: CG on the groups found from task affinity (notebook 10), once they are written.

The ablation and the baseline run on the seeds of ``side_seeds`` (``conf/analysis.yaml``; no verdict reads them).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from m2dino.analysis.affinity import GROUPING_NAME, PROBE_EXPERIMENT, groups_experiment
from m2dino.analysis.settings import settings
from m2dino.config import load
from m2dino.grouping import load_grouping, read_grouping_file, resolve_groups
from m2dino.paths import results_dir

Plan = Sequence[Sequence[str]]  # override lists, one per trainer call
Seeds = Sequence[int] | None  # the seeds a plan runs (None: the profile's plan.seeds)

DATA_SCALE_GROUPS = ("obstetrics", "breast")


def data_scale_name(fraction: float) -> str:
    return f"data_scale/frac{fraction:g}"


def main_plan() -> list[list[str]]:
    return [[f"paradigm={p}"] for p in ("single", "clinical", "all")]


def _task_list(ids: Sequence[str]) -> str:
    return "[" + ",".join(ids) + "]"


def constant_steps(fraction: float, epochs: int, eval_every: int) -> list[str]:
    """Overrides that keep a run at ``fraction`` of the training data at the full data's optimiser steps and
    validation points: epochs x 1/fraction, eval_every x 1/fraction (rounded)."""
    return [f"train.epochs={max(1, round(epochs / fraction))}",
            f"train.eval_every={max(1, round(eval_every / fraction))}"]


def data_scale_plan(fractions: Sequence[float], groups: Sequence[str] = DATA_SCALE_GROUPS,
                    au_tasks: str = "all", *, profile: str) -> list[list[str]]:
    """Override lists of the data-scale experiment (fractions < 1 only; 1.0 is the main experiment), each at the
    profile's full-data optimiser steps (:func:`constant_steps`).

    ``au_tasks="all"`` trains AU on the 27 tasks at each fraction (the study's AU); ``"groups"`` only on the groups'
    tasks (a cheap stand-in for the smoke profile, where it coincides with CG for a single group); ``"none"`` trains no
    AU at reduced fractions: no claim reads them (``scale_dependence`` is CG against TS, docs/analysis.md), only the
    descriptive guideline and the advisor would, and at the demo they cost more than all of TS, CG and AU together.
    """
    if au_tasks not in ("all", "groups", "none"):
        raise ValueError(f"au_tasks must be 'all', 'groups' or 'none', got {au_tasks!r}")
    clinical = resolve_groups(load_grouping("clinical"))
    unknown = [g for g in groups if g not in clinical]
    if unknown:
        raise KeyError(f"unknown clinical groups {unknown}; known: {sorted(clinical)}")
    train = load([f"profile={profile}"]).train
    plan = []
    for f in sorted(set(fractions)):
        if not 0 < f < 1:
            continue
        base = [f"experiment={data_scale_name(f)}", f"data.fraction={f:g}",
                *constant_steps(f, int(train.epochs), int(train.eval_every))]
        for g in groups:
            plan.append(base + ["paradigm=single", f"tasks={_task_list(clinical[g])}"])
            plan.append(base + ["paradigm=clinical", f"unit={g}"])
        if au_tasks != "none":
            au = [] if au_tasks == "all" else [f"tasks={_task_list([t for g in groups for t in clinical[g]])}"]
            plan.append(base + ["paradigm=all", *au])
    return plan


BASELINE = "fmc_baseline"  # the challenge baseline's experiment


def side_plan(tasks: Sequence[str] | None = None, baseline_encoder: str | None = None,
              baseline: bool = True) -> list[list[str]]:
    """The dense ablation and (``baseline``) the challenge baseline, all-task; ``tasks`` restricts both (the smoke
    profile) and ``baseline_encoder`` swaps the baseline's EfficientNet-B4 for a smaller smp encoder (the CPU
    profiles)."""
    extra = [f"tasks={_task_list(tasks)}"] if tasks else []
    encoder = [f"model.encoder={baseline_encoder}"] if baseline_encoder else []
    plan = [["experiment=ablation_dense", "paradigm=all", "model.moe.enabled=false", *extra]]
    if baseline:
        plan.append([f"experiment={BASELINE}", "paradigm=all", f"model={BASELINE}", *encoder, *extra])
    return plan


def _side_seeds(profile: str) -> list[int] | None:
    st = settings(profile)
    return None if st.side_seeds is None else [int(s) for s in st.side_seeds]


def side_runs(profile: str, baseline: bool | None = None) -> tuple[list[list[str]], list[int] | None]:
    """The side plan as the profile's analysis settings ask (``side_tasks``, ``baseline_encoder``, and
    ``side_baseline`` unless ``baseline`` says), with its seeds (``side_seeds``; None: the profile's)."""
    st = settings(profile)
    with_baseline = bool(st.side_baseline) if baseline is None else baseline
    return side_plan(st.side_tasks, st.baseline_encoder, with_baseline), _side_seeds(profile)


def baseline_runs(profile: str) -> tuple[list[list[str]], list[int] | None]:
    """The challenge baseline alone, as the profile would train it, with its seeds: the opt-in of the CPU profiles."""
    st = settings(profile)
    return side_plan(st.side_tasks, st.baseline_encoder)[1:], _side_seeds(profile)


def baseline_command(profile: str) -> str:
    """The command line that trains the challenge baseline of ``profile``, one per seed of its side runs."""
    plan, seeds = baseline_runs(profile)
    seeds = list(seeds) if seeds is not None else [int(s) for s in load([f"profile={profile}"]).plan.seeds]
    return " && ".join(f"python -m m2dino train profile={profile} {' '.join(plan[0])} seed={s}" for s in seeds)


def groups_plan(path: Path, groups: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The override list that trains CG on a data-derived grouping file (notebook 10)."""
    return [[f"experiment={groups_experiment(groups)}", "paradigm=clinical", f"grouping={Path(path).resolve()}"]]


def probe_plan(epochs: int, every: int, tasks: Sequence[str] | None = None) -> list[list[str]]:
    """One short AU run that only serves to measure affinity (``epochs`` epochs, affinity every ``every`` steps):
    what the advisor needs for a task without affinity, instead of a full training."""
    extra = [f"tasks=[{','.join(tasks)}]"] if tasks else []
    return [[f"experiment={PROBE_EXPERIMENT}", "paradigm=all", f"train.epochs={int(epochs)}",
             "train.affinity.enabled=true", f"train.affinity.every={int(every)}",
             f"train.affinity.experiments=[{PROBE_EXPERIMENT}]", *extra]]


def aa_runs(profile: str) -> tuple[list[list[str]], list[int]]:
    """The TS-only seeds of the A/A check (``aa_extra_seeds``, on the tasks of ``aa_tasks``; conf/analysis.yaml), as
    a plan and its seeds: with the profile's seeds they make the 4+ TS seeds the check splits in two arms
    (``m2dino.analysis.aa_check``). No seeds: an empty plan."""
    st = settings(profile)
    seeds = [int(s) for s in (st.aa_extra_seeds or [])]
    if not seeds:
        return [], []
    return [["paradigm=single", *([f"tasks={_task_list(st.aa_tasks)}"] if st.aa_tasks else [])]], seeds


def data_scale_runs(profile: str) -> list[list[str]]:
    """The data-scale plan as the profile's analysis settings ask (fractions, groups, AU tasks)."""
    st = settings(profile)
    return data_scale_plan(st.data_scale_fractions, st.data_scale_groups, au_tasks=st.data_scale_au_tasks,
                           profile=profile)


def study_plans(profile: str) -> list[tuple[Plan, Seeds]]:
    """What the study's tables read (notebooks 06-09): the main experiment, the side runs and the data-scale
    experiment, the A/A check's TS-only seeds, each with its seeds. Notebook 03 trains them all in one pool, so the cores stay busy to the end."""
    return [(main_plan(), None), side_runs(profile), (data_scale_runs(profile), None), aa_runs(profile)]


def affinity_grouping_file(profile: str, extra: Sequence[str] = ()) -> Path:
    """``results/<profile>/groupings/affinity.yaml``: the groups notebook 10 finds from task affinity."""
    return results_dir(load([f"profile={profile}", *extra])) / "groupings" / f"{GROUPING_NAME}.yaml"


def affinity_groups_runs(profile: str, grouping: Path) -> tuple[list[list[str]], list[int] | None]:
    """CG on a data-derived grouping file, with the seeds of ``affinity_group_seeds`` (None: the profile's)."""
    st = settings(profile)
    seeds = None if st.affinity_group_seeds is None else [int(s) for s in st.affinity_group_seeds]
    return groups_plan(grouping, resolve_groups(read_grouping_file(grouping))), seeds


def profile_plans(profile: str, extra: Sequence[str] = ()) -> list[tuple[Plan, Seeds]]:
    """Every plan a reproduction of ``profile`` can run, with its seeds: the study's plans, the challenge baseline
    (even where it is an opt-in: it is judged when it is there) and, once notebook 10 has found them, CG on the
    affinity groups. What :func:`m2dino.study.schedule.current` judges against today's configs."""
    plans = [(main_plan(), None), side_runs(profile, baseline=True), (data_scale_runs(profile), None),
             aa_runs(profile)]
    grouping = affinity_grouping_file(profile, extra)
    if grouping.is_file():
        plans.append(affinity_groups_runs(profile, grouping))
    return plans
