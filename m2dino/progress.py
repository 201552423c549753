"""Progress bars that read well where they are shown.

Interactive (JupyterLab, a terminal) they are ``tqdm.auto`` bars: widgets in JupyterLab (ipywidgets), text in a
terminal. Under a headless run (``M2DINO_HEADLESS=1``, which ``make reproduce`` sets for papermill) an executed
notebook would otherwise store every redraw of every bar as text (0.5 MB in one notebook at demo), so there each bar
draws nothing and a bar that would stay on screen (``leave`` not False) prints one summary line when it ends.
"""
from __future__ import annotations

import os
import time
from typing import Any

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.std import tqdm as _std_tqdm

HEADLESS_ENV = "M2DINO_HEADLESS"


def headless() -> bool:
    """True when outputs are recorded rather than watched (``M2DINO_HEADLESS`` set to anything but 0 or empty)."""
    return os.environ.get(HEADLESS_ENV, "").strip() not in ("", "0", "false", "False")


class _Summary(_std_tqdm):
    """A bar that never draws; on close it prints ``desc: n unit in t s`` once, if the caller wanted a lasting bar."""

    def __init__(self, iterable: Any = None, *args: Any, **kwargs: Any) -> None:
        self._announce = kwargs.get("disable") is not True and kwargs.get("leave", True) is not False
        self._label = kwargs.get("desc") or "progress"
        self._unit = kwargs.get("unit", "it")
        self._count = 0
        self._start = time.perf_counter()
        self._said = False
        kwargs["disable"] = True
        super().__init__(iterable, *args, **kwargs)

    def __iter__(self):
        for item in self.iterable:
            self._count += 1
            yield item
        self.close()

    def update(self, n: float = 1) -> bool | None:
        self._count += n
        return None

    def close(self) -> None:
        if self._announce and not self._said:
            self._said = True
            print(f"{self._label}: {self._count:g} {self._unit} in {time.perf_counter() - self._start:.0f} s",
                  flush=True)
        super().close()


def tqdm(*args: Any, **kwargs: Any) -> _std_tqdm:
    """``tqdm.auto.tqdm`` interactively; a silent bar with a one-line summary under a headless run."""
    return _Summary(*args, **kwargs) if headless() else _auto_tqdm(*args, **kwargs)
