"""Stops that leave nothing behind while units train in worker processes (``runtime.unit_workers`` > 1).

joblib's loky pool does not end its workers when its parent dies: a SIGTERM to ``python -m m2dino train`` used to
leave them training on, orphaned, writing into run folders the next run would also use (measured). Two guards:

- in the parent, :func:`guard_pool` around the pool: SIGTERM and SIGHUP raise :class:`Stopped` (a
  ``KeyboardInterrupt``) in the main thread, exactly as Ctrl-C (SIGINT) and JupyterLab's "interrupt" already do; joblib
  then aborts and kills its workers, and the guard waits until every process of the pool has gone (killing what is
  left) before the exception travels on. ``python -m m2dino`` turns it into exit status 128 + the signal's number.
- in each worker, :func:`in_worker` starts a watchdog that ends the worker, and its own children (DataLoader workers),
  as soon as its parent process is gone, however it went (SIGKILL, out of memory, a killed notebook kernel).

A unit killed mid-way leaves its run folder partial (no ``DONE``); the next run resumes it from ``last.pt``.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psutil

T = TypeVar("T")
SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # SIGINT already raises KeyboardInterrupt
GRACE_S = 5.0  # how long the guard waits for the pool's processes to end before it kills them
POLL_S = 0.5  # how often a worker checks that its parent is still there


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by a stop signal while a pool runs."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def _raise_stopped(signum: int, frame: Any) -> None:
    raise Stopped(signum)


def pool_workers() -> list[psutil.Process]:
    """This process's loky workers and their own children. Loky's resource tracker is left alone: it ignores
    SIGTERM, and it cleans up the pool's shared memory and exits by itself once the workers and this process are gone."""
    out = []
    for child in psutil.Process().children(recursive=False):
        try:
            if "loky" in " ".join(child.cmdline()) and "resource_tracker" not in " ".join(child.cmdline()):
                out += [child, *child.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return out


def end_pool(grace_s: float = GRACE_S) -> None:
    """Terminate every worker of the pool and wait for them to go; kill those still there after ``grace_s``."""
    procs = pool_workers()
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_s)


@contextmanager
def guard_pool() -> Iterator[None]:
    """Around a pool of worker processes: a stop signal raises :class:`Stopped`, and any exception leaving the block
    (``Stopped``, Ctrl-C's ``KeyboardInterrupt``, a failed unit) first ends every process of the pool."""
    main = threading.current_thread() is threading.main_thread()  # handlers can only be set in the main thread
    before = {s: signal.getsignal(s) for s in SIGNALS} if main else {}
    for s in before:
        signal.signal(s, _raise_stopped)
    try:
        yield
    except BaseException:
        end_pool()
        raise
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


_watching = False


def watch_parent(parent: int, poll_s: float = POLL_S) -> None:
    """End this process (and its children) as soon as its parent is no longer the process ``parent``; the watchdog
    starts once per process. ``parent`` comes from the parent itself: a worker still starting up when its parent died
    has been handed to another process already, and would otherwise take that one for its parent."""
    global _watching
    if _watching:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="m2dino-watch-parent", daemon=True).start()
    _watching = True


class in_worker:  # noqa: N801 - used like a function: delayed(in_worker(fn))(*args)
    """``in_worker(fn)(*args, **kwargs)`` runs ``fn`` in a pool worker that ends with the process that made this
    wrapper (:func:`watch_parent`)."""

    def __init__(self, fn: Callable[..., T]) -> None:
        self.fn, self.parent = fn, os.getpid()

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        watch_parent(self.parent)
        return self.fn(*args, **kwargs)
