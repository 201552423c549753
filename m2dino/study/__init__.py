"""The layer that schedules and trains: what a reproduction trains (``plans``), training what is not finished and
judging every run against today's config (``schedule``), the budget ladder (``budget``) and CG on the groups found
from task affinity (``affinity``). It sits above both ``m2dino.train``, which it calls, and ``m2dino.analysis``,
which only reads finished runs and is handed the runs table of :func:`current`; the notebooks and the CLI call it.
"""
from m2dino.study.affinity import affinity_groups
from m2dino.study.plans import (aa_runs, baseline_command, baseline_runs, data_scale_plan, data_scale_runs, main_plan,
                                side_runs, study_plans)
from m2dino.study.schedule import current, ensure_plans, ensure_runs

__all__ = ["aa_runs", "affinity_groups", "baseline_command", "baseline_runs", "current", "data_scale_plan", "data_scale_runs", "ensure_plans",
           "ensure_runs", "main_plan", "side_runs", "study_plans"]
