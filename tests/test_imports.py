"""The package's import structure: no cycles, and no import from a lower layer up to a higher one.

Every ``import`` in every module counts, including those inside functions: a lazy import hides a dependency from the
interpreter, not from the reader. The layers, from the bottom up (a module may import its own layer and those below):

0. foundation: ``errors`` (the configuration error, which ``paths`` raises), ``paths``, ``config``, ``registry``, ``grouping``, ``plotting``, ``overview``, ``progress``,
   ``provenance``, ``threads``, ``optim``, ``atomic`` (files written whole) and ``runs`` (the run folder: its path,
   its state, reading and writing it), and the package's root;
1. data in and scores out: ``data`` (reads datasets), ``metrics`` (they do not know about models);
2. ``synth``: the generator of the synthetic benchmark, which writes datasets in the layout ``data`` reads (and
   ``synth.source``, which generates a config's data when it is missing);
3. reading results: ``analysis`` (reads finished runs through ``runs``; knows nothing of models or training), and
   the companion steps that read its outputs: ``html_report``, ``readme_figures``, ``lab``;
4. ``model``: builds and loads models; weights are files by now;
5. ``pretrain``: the in-house backbone, and what ``model.weights`` names resolve to;
6. ``train``: runs, paradigms, evaluation;
7. ``benchmarks``: measure the layers below, and ``checks`` (the paper run's rehearsal and GPU check: they drive
   the trainer like a benchmark);
8. ``study``: what a reproduction trains (plans, the budget ladder), training what is not finished, and judging
   every run against today's config for the analysis; the notebooks call it;
9. ``commands``: the CLI verbs;
10. ``cli`` and ``__main__``: the dispatcher.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from m2dino.paths import PACKAGE

LAYERS: list[set[str]] = [
    {"", "errors", "paths", "config", "registry", "grouping", "plotting", "overview", "progress", "provenance", "threads",
     "optim", "atomic", "runs"},
    {"data", "metrics"},
    {"synth"},
    {"analysis", "html_report", "readme_figures", "lab"},
    {"model"},
    {"pretrain"},
    {"train"},
    {"benchmarks", "checks"},
    {"study"},
    {"commands"},
    {"cli", "__main__"},
]
# Known cycles allowed for now, each the exact set of modules of one cycle. Empty: the synth (bmode/geometry/scene)
# and train (ddp/paradigms/run) cycles are gone, so any cycle fails.
KNOWN_CYCLES: list[frozenset[str]] = []


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = ["m2dino", *p.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports. ``from pkg import sub`` points at ``pkg.sub``, not at ``pkg``."""
    mods = _modules()
    g: dict[str, set[str]] = {m: set() for m in mods}

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                subs = [f"{base}.{a.name}" for a in node.names]
                targets = [s for s in subs if s in mods]
                if len(targets) < len(subs):
                    targets.append(base)
            for t in targets:
                if t.split(".")[0] == "m2dino" and (dst := known(t)) and dst != mod:
                    g[mod].add(dst)
    return g


def _edges(g: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, bs in g.items() for b in bs}


def cycles(g: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (the graph is small: reachability per node)."""
    reach = {}
    for start in g:
        seen, todo = set(), [start]
        while todo:
            for nxt in g[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    comps = {frozenset({v, *(w for w in reach[v] if v in reach[w])}) for v in g if v in reach[v]}
    return sorted(comps, key=sorted)


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def layer_of(module: str) -> int:
    top = _top(module)
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise KeyError(f"{module}: its top-level part {top!r} has no layer; add it to LAYERS in {__file__}")


def test_every_module_has_a_layer() -> None:
    for mod in import_graph():
        layer_of(mod)


def test_no_upward_import() -> None:
    g = import_graph()
    bad = [f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
           for a, b in _edges(g) if layer_of(b) > layer_of(a)]
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(bad))


def test_no_import_cycle() -> None:
    new = [sorted(c) for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not new, f"import cycles: {new}"


def test_no_cycle_between_packages() -> None:
    """Drawn at the level of the top-level parts (``data``, ``synth``, ...), the imports have no circle either."""
    top = {}
    for a, bs in import_graph().items():
        top.setdefault(_top(a), set()).update(_top(b) for b in bs if _top(b) != _top(a))
    assert not cycles(top), f"package cycles: {[sorted(c) for c in cycles(top)]}"


def test_the_analysis_imports_nothing_from_training() -> None:
    """The analysis only reads finished runs: no import of ``m2dino.train`` (nor of the model or the backbone)."""
    bad = sorted(f"{a} imports {b}" for a, b in _edges(import_graph())
                 if _top(a) == "analysis" and _top(b) in ("train", "model", "pretrain", "study"))
    assert not bad, bad


def test_the_walker_sees_cycles_and_upward_imports(tmp_path, monkeypatch) -> None:
    """The checks can fail: a fabricated package with a cycle and an upward import is caught."""
    pkg = tmp_path / "m2dino"
    (pkg / "data").mkdir(parents=True)
    (pkg / "train").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "train" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("def f():\n    from m2dino.train import b\n")  # lazy and upward
    (pkg / "train" / "b.py").write_text("from m2dino.data import a\n")
    monkeypatch.setitem(globals(), "PACKAGE", pkg)
    g = import_graph()
    assert _edges(g) == {("m2dino.data.a", "m2dino.train.b"), ("m2dino.train.b", "m2dino.data.a")}
    with pytest.raises(AssertionError, match="lower layer to a higher"):
        test_no_upward_import()
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycle()
