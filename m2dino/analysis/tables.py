"""The main tables of the study from one profile's runs, as a dict name -> DataFrame (written, with the other
parts, by ``m2dino.analysis.publish.write_report``; also the input of the "what we found" text)."""
from __future__ import annotations

import pandas as pd

from m2dino.analysis.change import REF_PARADIGM, RunSet, aggregate, compare, task_changes
from m2dino.analysis.delta_m import delta_m, delta_m_table
from m2dino.analysis.aa_check import aa_check
from m2dino.analysis.delta_s import Evidence, Reader, beats_table, delta_s_task_csv, family_of, task_table, two_stage
from m2dino.analysis.delta_s import aggregate as aggregate_s
from m2dino.analysis.guidelines import derive_guideline, scale_groups
from m2dino.analysis.study import side_by_side
from m2dino.analysis.tidy import provenance, read_per_image
from m2dino.analysis.transfer import count_negative
from m2dino.analysis.verdicts import au_consistency, claim_deltas, sensitivity_table, verdict_table

# Other experiments compared against the main experiment's TS runs, when present.
SIDE_EXPERIMENTS = {"ablation_dense": "all", "fmc_baseline": "all"}


def data_scale_changes(tidy: pd.DataFrame, n_boot: int, bootstrap: bool = True) -> pd.DataFrame:
    """Per-task changes against TS at the same training fraction, for every ``data_scale/frac*`` experiment, plus the
    main experiment as fraction 1.0 for the same groups' tasks (fraction 1.0 is not retrained)."""
    parts = []
    for exp in sorted(e for e in tidy["experiment"].unique() if str(e).startswith("data_scale/")):
        have = set(tidy.loc[tidy["experiment"] == exp, "paradigm"])
        if REF_PARADIGM not in have or not have & {"clinical", "all"}:
            continue
        ch = task_changes(tidy, exp, n_boot=n_boot, bootstrap=bootstrap)
        ch["fraction"] = float(exp.split("frac", 1)[1]) if "frac" in exp else float("nan")
        parts.append(ch)
    if parts and "main" in set(tidy["experiment"]):
        groups = set(pd.concat(parts)["group"])
        main = task_changes(tidy, "main", n_boot=n_boot, bootstrap=bootstrap)
        parts.append(main[main["group"].isin(groups)].assign(fraction=1.0))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def side_changes(tidy: pd.DataFrame, n_boot: int, bootstrap: bool = True) -> pd.DataFrame:
    """Ablation and baseline runs against the main TS runs, next to the main AU model's changes."""
    parts = []
    main_ts = RunSet("main", REF_PARADIGM)
    for exp, paradigm in SIDE_EXPERIMENTS.items():
        if ((tidy["experiment"] == exp) & (tidy["paradigm"] == paradigm)).any():
            parts.append(compare(tidy, main_ts, RunSet(exp, paradigm), bootstrap).points)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def headroom_evidence(tidy: pd.DataFrame, n_boot: int, bootstrap: bool = True,
                      reader: Reader = read_per_image) -> tuple[dict[str, Evidence], pd.DataFrame | None]:
    """The evidence of each experiment family with TS and CG or AU runs (``main``, ``data_scale``), and the
    beats-trivial table of every experiment's TS runs (None without intervals)."""
    families = {f for f in map(family_of, tidy["experiment"].unique()) if f in ("main", "data_scale")}
    evidence, beats_parts = {}, []
    for fam in sorted(families):
        exps = sorted(e for e in tidy["experiment"].unique() if family_of(e) == fam)
        have = set(tidy.loc[tidy["experiment"].isin(exps), "paradigm"])
        if REF_PARADIGM not in have or not have & {"clinical", "all"}:
            continue
        evidence[fam] = two_stage(tidy, fam, bootstrap=bootstrap, reader=reader)
        if bootstrap:
            beats_parts += [beats_table(tidy, e, n_boot=n_boot, reader=reader) for e in exps
                            if ((tidy["experiment"] == e) & (tidy["paradigm"] == REF_PARADIGM)).any()]
    return evidence, (pd.concat(beats_parts, ignore_index=True) if beats_parts else None)


def headroom_tables(tidy: pd.DataFrame, n_boot: int, bootstrap: bool = True,
                    profile: str | None = None, reader: Reader = read_per_image) -> dict[str, pd.DataFrame]:
    """The primary tables on the headroom scale: ``beats_trivial`` (TS against the trivial predictor, per task and
    seed), ``delta_s_task`` / ``_group`` / ``_type`` / ``_all`` (Δs with intervals from the crossed seed × image
    model, per experiment family), ``verdicts`` (each claim from its own experiment), ``verdict_sensitivity`` (each
    verdict at δ/2, δ, 2δ), ``au_consistency`` (descriptive) and ``aa_check`` (TS against TS, with 4+ TS seeds).
    ``n_boot`` resamples of the beats-trivial intervals; ``bootstrap=False``: points only."""
    profile = profile or str(tidy["profile"].iloc[0])
    rich, scarce = scale_groups(profile)
    deltas = claim_deltas(profile)
    out: dict[str, pd.DataFrame] = {}
    evidence, beats = headroom_evidence(tidy, n_boot, bootstrap, reader)
    if beats is not None:
        out["beats_trivial"] = beats
    if evidence:
        out["delta_s_task"] = delta_s_task_csv(pd.concat([task_table(ev, beats) for ev in evidence.values()],
                                                         ignore_index=True))
        for name, by in (("delta_s_group", "group"), ("delta_s_type", "type"), ("delta_s_all", None)):
            out[name] = pd.concat([aggregate_s(ev, by) for ev in evidence.values()], ignore_index=True)
    main, ds = evidence.get("main"), evidence.get("data_scale")
    out["verdicts"] = verdict_table(main, ds, rich, scarce, beats, provenance(tidy), deltas)
    out["verdict_sensitivity"] = sensitivity_table(main, ds, rich, scarce, beats, deltas)
    consistency = au_consistency(main) if bootstrap else pd.DataFrame()
    if len(consistency):
        out["au_consistency"] = consistency
    if bootstrap:
        aa = aa_check(tidy, rich, scarce, deltas, beats, reader)
        if len(aa):
            out["aa_check"] = aa
    return out


def build_tables(tidy: pd.DataFrame, n_boot: int, bootstrap: bool = True) -> dict[str, pd.DataFrame]:
    """Every table the report prints; tables whose runs are missing are left out (``notes`` says which). The
    headroom tables (:func:`headroom_tables`) are primary; the relative changes (``task_change``, ``delta_m``, ...)
    are secondary."""
    label = provenance(tidy)
    tables: dict[str, pd.DataFrame] = {"tidy": tidy.drop(columns=["run_dir"])}
    tables.update(headroom_tables(tidy, n_boot=n_boot, bootstrap=bootstrap))
    notes = []
    if "beats_trivial" not in tables:
        notes.append("beats_trivial: no bootstrap (n_boot=0) or no TS runs, so no interval against the trivial "
                     "predictor")
    main = tidy[tidy["experiment"] == "main"]
    have = set(main["paradigm"])
    if REF_PARADIGM in have and have & {"clinical", "all"}:
        ch = task_changes(tidy, "main", n_boot=n_boot, bootstrap=bootstrap)
        tables["task_change"] = ch
        tables["group_change"] = aggregate(ch, "group")
        tables["type_change"] = aggregate(ch, "type")
        tables["delta_m"] = delta_m_table(tidy, "main")
        tables["delta_m_by_type"] = delta_m_table(tidy, "main", by="type")
        tables["delta_m_by_group"] = delta_m_table(tidy, "main", by="group")
        tables["negative_transfer_by_group"] = count_negative(ch, "group")
        tables["negative_transfer_by_type"] = count_negative(ch, "type")
        tables["study_vs_ours"] = side_by_side(ch, tables["group_change"], label)
    else:
        notes.append(f"main experiment: need TS and CG/AU runs, found {sorted(have) or 'none'}")
    ds = data_scale_changes(tidy, n_boot, bootstrap)
    if len(ds):
        tables["data_scale_change"] = ds
    else:
        notes.append("data-scale experiment: no runs (notebooks/07_data_scale.ipynb)")
    side = side_changes(tidy, n_boot, bootstrap)
    if len(side):
        tables["ablation_baseline_change"] = side
        main_ts = RunSet("main", REF_PARADIGM)
        tables["ablation_baseline_delta_m"] = pd.concat(
            [delta_m(tidy, RunSet(e, p), ref=main_ts) for e, p in SIDE_EXPERIMENTS.items()
             if ((tidy["experiment"] == e) & (tidy["paradigm"] == p)).any()], ignore_index=True)
    else:
        notes.append("ablation / challenge baseline: no runs (notebooks/08_moe_routing.ipynb)")
    evidence = pd.DataFrame()
    if "task_change" in tables:  # the main runs, plus the data-scale runs below fraction 1.0
        extra = [ds[ds["experiment"] != "main"]] if len(ds) else []
        evidence = pd.concat([tables["task_change"], *extra], ignore_index=True)
    if len(evidence):
        tables["guideline"] = derive_guideline(evidence, *scale_groups(str(tidy["profile"].iloc[0])), n_boot=n_boot)
    tables["notes"] = pd.DataFrame({"note": [f"data: {label}"] + notes})
    return tables

