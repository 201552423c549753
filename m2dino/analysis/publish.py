"""The one writer of ``results/<profile>/tables/``: ``python -m m2dino report`` runs :func:`write_report` whole, and
the notebooks run the part they show, then read and plot what it wrote (:func:`read_table`).

Every file under ``tables/`` belongs to exactly one part (:data:`PARTS`), and a part's content depends only on the
finished runs under ``results/<profile>/`` and the analysis settings (``conf/analysis.yaml``: ``n_boot``), so whichever
caller writes a file writes the same one. Parts whose runs are missing write nothing (``notes.csv`` says which).

A part is built once: beside its tables, ``.<part>.key`` records what they were built from (the finished runs and
their hashes, the options and settings, the analysis code); a later call with the same inputs reads them instead of
rebuilding them (notebooks 06-09 all show the ``study`` part, and only the first builds it).
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from m2dino import atomic, runs
from m2dino.analysis import affinity as A
from m2dino.analysis.advisor import AdvisorError, Query, advise, effects, fit, measured_changes
from m2dino.analysis.change import RunSet, compare
from m2dino.analysis.findings import what_we_found
from m2dino.analysis.paradigm_results import result_table
from m2dino.analysis.routing import load_routing, routing_similarity
from m2dino.analysis.settings import settings
from m2dino.analysis.tables import build_tables
from m2dino.analysis.tidy import provenance, tidy_results
from m2dino.grouping import load_grouping, resolve_groups
from m2dino.paths import CONF_DIR, PACKAGE, results_dir
from m2dino.runs import MAIN, PARADIGMS
from m2dino.registry import all_tasks

PARTS = ("paradigms", "study", "routing", "advice", "affinity")  # in writing order: affinity reads delta_s_task.csv
ESTIMATOR = "lookahead"  # the affinity that predicts and groups (lookahead or cosine)


def tables_dir(cfg: DictConfig) -> Path:
    """``results/<profile>/tables/``."""
    return results_dir(cfg) / "tables"


def read_table(cfg: DictConfig, name: str) -> pd.DataFrame:
    """A table :func:`write_report` wrote, for a notebook to show or plot."""
    path = tables_dir(cfg) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not written (python -m m2dino report profile={cfg.profile.name})")
    return pd.read_csv(path)


def write_csvs(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Each table as ``<out_dir>/<name>.csv`` (floats rounded to 6 digits, so reruns give identical files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        p = out_dir / f"{name}.csv"
        atomic.to_csv(df.round(6), p, index=False)  # whole or not at all: a kill never leaves half a table
        paths.append(p)
    return paths


def paradigm_tables(tidy: pd.DataFrame, n_boot: int) -> dict[str, pd.DataFrame]:
    """``<paradigm>.csv`` for each of TS, CG, AU with main runs: the primary metric beside the trivial predictor
    (``m2dino.analysis.paradigm_results.result_table``)."""
    main = tidy[tidy["experiment"] == MAIN]
    return {p: result_table(main, p, n_boot=n_boot) for p in PARADIGMS if (main["paradigm"] == p).any()}


def study_tables(tidy: pd.DataFrame, n_boot: int, bootstrap: bool) -> dict[str, pd.DataFrame]:
    """:func:`m2dino.analysis.tables.build_tables`, plus the data-scale effects and MoE-vs-dense comparison when their
    runs exist."""
    tables = build_tables(tidy, n_boot=n_boot, bootstrap=bootstrap)
    if "data_scale_change" in tables:
        try:
            tables["data_scale_effects"] = effects(fit(tables["data_scale_change"], n_boot=n_boot))
        except AdvisorError:
            pass  # too few changes to fit: the data-scale table alone
    have = {(e, p) for e, p in zip(tidy["experiment"], tidy["paradigm"])}
    if {("ablation_dense", "all"), (MAIN, "all")} <= have:
        tables["moe_vs_dense"] = compare(tidy, RunSet("ablation_dense", "all"), RunSet(MAIN, "all"), bootstrap).points
    return tables


def routing_tables(tidy: pd.DataFrame, seed: int | None = None) -> dict[str, pd.DataFrame]:
    """Expert usage of the main AU model (``seed``; default its first seed) and the task similarity from it."""
    main_au = tidy[(tidy["experiment"] == MAIN) & (tidy["paradigm"] == "all")]
    if not len(main_au):
        return {}
    seed = int(main_au["seed"].min()) if seed is None else int(seed)
    dirs = main_au.loc[main_au["seed"] == seed, "run_dir"].unique()
    if not len(dirs):
        return {}
    try:
        usage = load_routing(Path(dirs[0]))
    except FileNotFoundError:
        return {}  # a dense model routes nothing
    return {"routing_usage": usage, "routing_similarity": routing_similarity(usage).reset_index(names="task")}


def advice_table(tidy: pd.DataFrame, n_boot: int, new_task_types: Sequence[str],
                 new_task_n_train: float) -> dict[str, pd.DataFrame]:
    """The advisor on the 27 tasks and one new task per type in ``new_task_types``."""
    queries = [Query(t.id, t.type, None, True) for t in all_tasks()] + \
              [Query(f"new_{typ}", typ, float(new_task_n_train), False) for typ in new_task_types]
    try:
        return {"advice": advise(measured_changes(tidy), queries, n_boot=n_boot)}
    except AdvisorError:
        return {}


def affinity_tables(root: Path, tidy: pd.DataFrame, n_boot: int, estimator: str = ESTIMATOR,
                    run_table: pd.DataFrame | None = None) -> tuple[dict[str, pd.DataFrame], str | None]:
    """Notebook 10's tables and findings paragraph: the affinity of the main AU run, transfer predicted from it against
    the measured transfer (``delta_s_task.csv`` when written), the groups found from it, and, once CG has been trained
    on those groups, their comparison with the clinical groups. None of it without an AU run that measured affinity."""
    au_runs = A.affinity_runs(root if run_table is None else run_table)
    if not au_runs:
        return {}, None
    aff = A.load_affinity(au_runs)
    matrices = {e: A.affinity_matrix(aff, e) for e in sorted(set(aff["estimator"]))}
    measured = A.measured_transfer(tidy, root / "tables", n_boot=n_boot)
    per_task, summary = A.evaluate_predictions(A.predictions(matrices, A.exposure(au_runs)), measured, n_boot=n_boot)
    clinical = resolve_groups(load_grouping("clinical"))
    groups = A.data_groups(matrices[estimator], len(clinical))
    long = pd.concat([m.stack().rename("value").reset_index().assign(estimator=e) for e, m in matrices.items()],
                     ignore_index=True)
    out = {"affinity_matrix": long, "affinity_predictions": per_task, "affinity_prediction_summary": summary,
           "affinity_groups": A.groups_table({"clinical": clinical, "affinity": groups})}
    comparison = None
    exp = A.groups_experiment(groups)
    if (tidy["experiment"] == exp).any():
        out["affinity_groups_task_change"], comparison = A.compare_groupings(
            tidy, {"clinical": MAIN, "affinity": exp}, n_boot=n_boot)
        out["affinity_groups_vs_clinical"] = comparison
    return out, A.affinity_findings(summary, comparison, provenance(tidy), estimator)


def write_report(cfg: DictConfig, parts: Iterable[str] = PARTS, n_boot: int | None = None, *,
                 routing_seed: int | None = None, new_task_types: Sequence[str] | None = None,
                 new_task_n_train: float | None = None, estimator: str = ESTIMATOR,
                 run_table: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Build the tables of ``parts`` from the runs under ``results/<profile>/`` and write them to ``tables/``.

    The keyword options change what a notebook asks of its part (None: what ``report`` uses, so both write the same
    file): ``routing_seed`` (default: the first seed of the main AU runs), ``new_task_types`` / ``new_task_n_train``
    (the advice's hypothetical new tasks; None: ``advice_new_task_types`` / ``advice_new_task_n_train`` of the
    profile in ``conf/analysis.yaml``), ``estimator``, ``run_table`` (which runs are finished: ``m2dino.study.current``,
    which judges the planned runs against today's configs; None: each run by its own config, ``m2dino.runs``).
    ``n_boot``: bootstrap resamples (None: the profile's ``n_boot`` in ``conf/analysis.yaml``; 0: point estimates
    only, and no table that needs an interval). Returns the tables written as CSV, by name; the texts
    (``what_we_found.md``, ``affinity_findings.md``) are written beside them. Raises ``NoResultsError`` without runs
    and ``FileNotFoundError`` naming a missing per-image table.
    """
    parts = list(parts)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"write_report: unknown parts {unknown}; known: {list(PARTS)}")
    st = settings(cfg.profile.name)
    n_boot = int(st.n_boot if n_boot is None else n_boot)
    bootstrap, n = n_boot > 0, max(n_boot, 1)
    root, out_dir = results_dir(cfg), tables_dir(cfg)
    table = runs.discover(root) if run_table is None else run_table
    common = {"n_boot": n_boot, "settings": OmegaConf.to_container(st, resolve=True)}
    options = {"paradigms": common, "study": common, "routing": {**common, "routing_seed": routing_seed},
               "advice": {**common, "new_task_types": new_task_types, "new_task_n_train": new_task_n_train},
               "affinity": {**common, "estimator": estimator}}  # what each part's tables depend on
    tidy: pd.DataFrame | None = None
    written: dict[str, pd.DataFrame] = {}
    for part in (p for p in PARTS if p in parts):
        key = _part_key(part, root, table, options[part])
        kept = _kept(out_dir, part, key)
        if kept is not None:  # built already from these runs, settings and code: read, not rebuilt
            written.update(kept)
            continue
        tidy = tidy_results(root, table) if tidy is None else tidy
        texts: dict[str, str] = {}
        if part == "paradigms":
            tables = paradigm_tables(tidy, n) if bootstrap else {}
        elif part == "study":
            tables = study_tables(tidy, n, bootstrap)
            texts["what_we_found"] = what_we_found(tables)
        elif part == "routing":
            tables = routing_tables(tidy, routing_seed)
        elif part == "advice":
            tables = advice_table(tidy, n, list(st.advice_new_task_types if new_task_types is None else new_task_types),
                                  float(st.advice_new_task_n_train if new_task_n_train is None else new_task_n_train))
        else:
            tables, found = affinity_tables(root, tidy, n, estimator, table)
            if found is not None:
                texts["affinity_findings"] = found
        write_csvs(tables, out_dir)
        for name, text in texts.items():
            atomic.write_text(out_dir / f"{name}.md", text)
        atomic.write_text(_key_file(out_dir, part), json.dumps({"key": key, "tables": sorted(tables),
                                                                "texts": sorted(texts)}, indent=1) + "\n")
        written.update(tables)
    return written


# ---- built once: a part is rebuilt only when what it reads changed ----

def _key_file(out_dir: Path, part: str) -> Path:
    return out_dir / f".{part}.key"


@functools.cache
def _code_hash() -> str:
    """The code and settings the tables are computed by: the analysis and metrics packages, the run-folder module,
    the task registry and groupings, and ``conf/analysis.yaml``."""
    files = sorted([*(PACKAGE / "analysis").glob("*.py"), *(PACKAGE / "metrics").glob("*.py"), PACKAGE / "runs.py",
                    PACKAGE / "registry.py", PACKAGE / "grouping.py", *CONF_DIR.glob("*.yaml"),
                    *(CONF_DIR / "grouping").glob("*.yaml")])
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(PACKAGE).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _part_key(part: str, root: Path, table: pd.DataFrame, options: dict) -> str:
    """What a part's tables depend on: the finished runs (folder and hash), the options and settings, the code, and
    for ``affinity`` the ``delta_s_task.csv`` the study part wrote."""
    done = table[table["state"] == runs.FINISHED]
    used = sorted((Path(p).relative_to(root).as_posix(), str(h)) for p, h in zip(done["path"], done["hash"]))
    extra = ""
    if part == "affinity" and (root / "tables" / "delta_s_task.csv").is_file():
        extra = hashlib.sha256((root / "tables" / "delta_s_task.csv").read_bytes()).hexdigest()
    material = {"part": part, "runs": used, "options": options, "code": _code_hash(), "reads": extra}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _kept(out_dir: Path, part: str, key: str) -> dict[str, pd.DataFrame] | None:
    """The part's tables as written, when they were built under ``key`` and are all there; else None."""
    f = _key_file(out_dir, part)
    try:
        rec = json.loads(f.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    files = [out_dir / f"{n}.csv" for n in rec.get("tables", [])] + [out_dir / f"{n}.md" for n in rec.get("texts", [])]
    if rec.get("key") != key or not all(p.is_file() for p in files):
        return None
    return {n: pd.read_csv(out_dir / f"{n}.csv") for n in rec["tables"]}
