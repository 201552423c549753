"""Files written whole or not at all: write to a temporary file in the same folder, then rename it into place.

``os.replace`` within one folder is atomic on POSIX and Windows, so a reader (or a rerun after a kill) sees either the
old file, or no file, or the complete new one, never half of it. It guards against a process that is killed or fails
mid-write (Ctrl-C, SIGTERM, SIGKILL, an exception), not against a power cut (no fsync). A killed writer may leave a
``.<name>.<random>.tmp`` file behind; nothing reads those, and :func:`clean` removes them.

Every file that marks a run finished or holds results goes through here (``m2dino.runs``, the report tables).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_SUFFIX = ".tmp"


@contextmanager
def replacing(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit rename it to ``path``, on an error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name per call, not a created file: the writer creates it with the usual permissions (umask)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path | str, text: str) -> Path:
    """``Path.write_text``, atomically."""
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def to_csv(df, path: Path | str, **kwargs) -> Path:
    """``DataFrame.to_csv(path, **kwargs)``, atomically."""
    with replacing(path) as tmp:
        df.to_csv(tmp, **kwargs)
    return Path(path)


def clean(folder: Path | str) -> list[Path]:
    """Remove the temporary files a killed writer left in ``folder``; return them."""
    left = sorted(Path(folder).glob(f".*{TMP_SUFFIX}"))
    for p in left:
        p.unlink(missing_ok=True)
    return left
