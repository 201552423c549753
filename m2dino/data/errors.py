"""What goes wrong in a dataset, located by file and CSV row."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


class DataError(ValueError):
    """Bad input data; the message names the file (and CSV row where there is one)."""


@dataclass(frozen=True)
class Problem:
    """One error or warning. ``row`` is the spreadsheet row (the header is row 1, the first record row 2)."""

    severity: str  # "error" or "warning"
    message: str
    file: str | None = None  # the CSV (or image/folder) the problem is in
    row: int | None = None
    task_id: str | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.row is not None:
            where += f", row {self.row}"
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        return asdict(self)


def located(file: Path | str | None, row: int | None, message: str) -> str:
    """``file, row N: message``, the form every data error takes."""
    return str(Problem("error", message, None if file is None else str(file), row))
