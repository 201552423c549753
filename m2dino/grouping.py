"""Groupings of the 27 tasks, as data: explicit lists in YAML, or one group per value of a registry field."""
from __future__ import annotations

from collections.abc import Mapping

from m2dino.registry import all_tasks, get_task


def resolve_groups(grouping: Mapping) -> dict[str, list[str]]:
    """Group name -> task ids for a grouping config (``cfg.grouping``), in registry order.

    ``by: null`` takes ``groups`` as written; ``by: all`` is one group of every task; ``by: FIELD`` makes one group per
    value of that registry field (``id``, ``type``, ``organ``, ``group``, ``probe``). Every task must land in exactly one
    group, so a grouping can't silently drop a task.
    """
    by = grouping.get("by")
    tasks = all_tasks()
    if by is None:
        groups = {str(g): [str(t) for t in ids] for g, ids in (grouping.get("groups") or {}).items()}
        for ids in groups.values():
            for t in ids:
                get_task(t)  # unknown ids fail loudly
    elif by == "all":
        groups = {"all": [t.id for t in tasks]}
    else:
        if not hasattr(tasks[0], by):
            raise ValueError(f"grouping {grouping.get('name')!r}: registry has no field {by!r}")
        groups = {}
        for t in tasks:
            groups.setdefault(str(getattr(t, by)), []).append(t.id)
    seen: dict[str, str] = {}
    for g, ids in groups.items():
        for t in ids:
            if t in seen:
                raise ValueError(f"grouping {grouping.get('name')!r}: task {t!r} is in both {seen[t]!r} and {g!r}")
            seen[t] = g
    missing = [t.id for t in tasks if t.id not in seen]
    if missing:
        raise ValueError(f"grouping {grouping.get('name')!r}: tasks in no group: {missing}")
    return groups


def load_grouping(name: str) -> dict:
    """A grouping config by file name, from the package's ``conf/grouping/``."""
    from omegaconf import OmegaConf

    from m2dino.config import CONF_DIR

    path = CONF_DIR / "grouping" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise FileNotFoundError(f"no grouping {name!r} ({path}); known: {known}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def paradigm_units(cfg) -> dict[str, list[str]]:
    """Unit name -> task ids trained together under ``cfg.paradigm``, restricted by ``cfg.unit`` and ``cfg.tasks``."""
    name = cfg.paradigm.grouping
    grouping = load_grouping(name) if name else cfg.grouping
    units = resolve_groups(grouping)
    if cfg.get("unit"):
        if cfg.unit not in units:
            raise KeyError(f"unit {cfg.unit!r} is not a unit of paradigm {cfg.paradigm.name!r}: {sorted(units)}")
        units = {cfg.unit: units[cfg.unit]}
    if cfg.get("tasks"):
        keep = {get_task(t).id for t in cfg.tasks}
        units = {u: [t for t in ids if t in keep] for u, ids in units.items()}
        units = {u: ids for u, ids in units.items() if ids}
    return units
