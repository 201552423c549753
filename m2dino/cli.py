"""``python -m m2dino <verb> [hydra overrides]``: one dispatcher over the modules in ``m2dino/commands``.

Each verb is a module ``m2dino/commands/<verb>.py`` with a one-line ``HELP`` and ``main(argv: list[str]) -> int``;
adding a verb means adding a file, nothing else.
"""
from __future__ import annotations

import importlib
import pkgutil
import signal
import sys

import m2dino.commands as _commands
from m2dino.errors import ConfigError


def verbs() -> dict[str, str]:
    """Verb -> one-line help, for every module in ``m2dino.commands``."""
    out = {}
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"m2dino.commands.{info.name}")
        out[info.name] = getattr(mod, "HELP", "")
    return out


def usage() -> str:
    lines = ["usage: python -m m2dino <verb> [hydra overrides, e.g. profile=smoke]", "", "verbs:"]
    lines += [f"  {v:<10} {h}" for v, h in verbs().items()]
    lines += ["", "Overrides use Hydra syntax (key=value, group=option); see m2dino/conf/ for every key."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    verb, rest = argv[0], argv[1:]
    # only the verb asked for is imported (importing all of them costs seconds: the report's notebook libraries)
    if verb.startswith("_") or verb not in {i.name for i in pkgutil.iter_modules(_commands.__path__)}:
        print(f"m2dino: unknown verb {verb!r}\n\n{usage()}", file=sys.stderr)
        return 2
    mod = importlib.import_module(f"m2dino.commands.{verb}")
    if rest and rest[0] in ("-h", "--help"):
        print(f"python -m m2dino {verb} [overrides]\n\n{(mod.__doc__ or getattr(mod, 'HELP', '')).strip()}")
        return 0
    try:
        return int(mod.main(rest) or 0)
    except ConfigError as e:  # a key that cannot work (m2dino.errors): its message names it; no traceback
        print(f"m2dino {verb}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP while units train in a pool (m2dino.train.stopping)
        signum = getattr(e, "signum", signal.SIGINT)
        print(f"m2dino {verb}: stopped by {signal.Signals(signum).name}; finished runs are kept, unfinished ones "
              f"resume on the next run", file=sys.stderr)
        return 128 + signum
