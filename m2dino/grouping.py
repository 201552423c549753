"""Groupings of the 27 tasks, as data: explicit lists in YAML, or one group per value of a registry field."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from m2dino import atomic
from m2dino.errors import ConfigError
from m2dino.registry import all_tasks, get_task


def resolve_groups(grouping: Mapping) -> dict[str, list[str]]:
    """Group name -> task ids for a grouping config (``cfg.grouping``), in registry order.

    ``by: null`` takes ``groups`` as written; ``by: all`` is one group of every task; ``by: FIELD`` makes one group per
    value of that registry field (``id``, ``type``, ``organ``, ``group``, ``probe``). Every task must land in exactly one
    group, so a grouping can't silently drop a task.
    """
    by = grouping.get("by")  # .get: a grouping file given by path (grouping=FILE, the affinity groups) may omit it
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


def is_grouping_path(name: str) -> bool:
    """Whether a ``grouping=`` value names a file (``.yaml``/``.yml`` or a path) rather than a packaged grouping."""
    name = str(name)
    return name.endswith((".yaml", ".yml")) or "/" in name or os.sep in name


def read_grouping_file(path: str | Path) -> dict:
    """A grouping config from a YAML file in the format of ``conf/grouping/*.yaml`` (``name``, ``by``, ``groups``),
    checked: every task in exactly one group. Errors name the file."""
    from omegaconf import OmegaConf

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"grouping file {path} does not exist")
    try:
        raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as e:  # noqa: BLE001 - any YAML problem is reported with the file
        raise ValueError(f"grouping file {path}: not readable YAML ({e})") from e
    if not isinstance(raw, dict) or "name" not in raw or "by" not in raw:
        raise ValueError(f"grouping file {path}: expected the keys name, by and groups, as in conf/grouping/*.yaml")
    raw.setdefault("groups", {})
    try:
        resolve_groups(raw)
    except (KeyError, ValueError) as e:
        raise ValueError(f"grouping file {path}: {e.args[0]}") from e
    return raw


def load_grouping(name: str) -> dict:
    """A grouping config by file name, from the package's ``conf/grouping/``, or from a YAML file given by path."""
    from omegaconf import OmegaConf

    from m2dino.paths import CONF_DIR

    if is_grouping_path(name):
        return read_grouping_file(name)
    path = CONF_DIR / "grouping" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise FileNotFoundError(f"no grouping {name!r} ({path}); known: {known}, or give a path to a YAML file")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def write_grouping(groups: Mapping[str, Sequence[str]], path: str | Path, name: str, comment: str = "") -> Path:
    """Write ``groups`` as a grouping config (the format of ``conf/grouping/*.yaml``, comments included) to ``path``;
    it is checked by reading it back."""
    import json
    import re

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {c}" for c in comment.splitlines()] if comment else []
    lines += [f"name: {name}  # how results and figures refer to this grouping",
              "by: null  # null: the groups are listed explicitly below",
              "groups:  # group name -> task ids; every task belongs to exactly one group"]
    for g, ids in groups.items():
        key = str(g) if re.fullmatch(r"[A-Za-z_][\w.-]*", str(g)) else json.dumps(str(g))  # JSON strings are YAML
        lines.append(f"  {key}: [{', '.join(map(str, ids))}]")
    atomic.write_text(path, "\n".join(lines) + "\n")  # runs are trained on it: whole or not at all
    read_grouping_file(path)
    return path


def paradigm_units(cfg) -> dict[str, list[str]]:
    """Unit name -> task ids trained together under ``cfg.paradigm``, restricted by ``cfg.unit`` and ``cfg.tasks``."""
    name = cfg.paradigm.grouping
    grouping = load_grouping(name) if name else cfg.grouping
    units = resolve_groups(grouping)
    if cfg.get("unit"):
        if cfg.unit not in units:
            raise ConfigError(f"unit={cfg.unit}: not a unit of paradigm {cfg.paradigm.name!r}; its units: "
                              f"{', '.join(sorted(units))}")
        units = {cfg.unit: units[cfg.unit]}
    if cfg.get("tasks"):
        try:
            keep = {get_task(t).id for t in cfg.tasks}
        except KeyError as e:
            raise ConfigError(f"tasks={list(cfg.tasks)}: {e.args[0]}") from None
        units = {u: [t for t in ids if t in keep] for u, ids in units.items()}
        units = {u: ids for u, ids in units.items() if ids}
    return units
