"""The repository is self-contained: no tracked file sends the reader to documents a clone does not have.

The contracts a user needs live in ``docs/``; this test fails if anything points outside the repository instead.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from m2dino.paths import REPO

# Built from pieces so that this file does not match itself.
_SHARED = "sha" + "red"
OUTSIDE = re.compile(
    r"\.\./+" + _SHARED + r"\b"                                  # the shared folder beside the repo
    + r"|\b" + _SHARED + r"/(paper|style|data-layout)\.md"       # its reference documents
    + r"|(^|[\s`'\"(\[./])" + "no" + r"tes/\S"                   # a notes/ path
)
DOCS = ("data-contract.md", "run-folder.md", "challenge-layout.md", "study.md", "architecture.md", "benchmarks.md",
        "decisions.md", "method.md")
README_MAX_LINES = 250  # what a newcomer reads first: the history lives in docs/benchmarks.md and docs/decisions.md


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [f for f in out.splitlines() if f]


def test_pattern_catches_outside_references() -> None:
    for bad in ("see ../" + _SHARED + "/data-layout.md", "(../../" + _SHARED + "/paper.md)",
                "`" + _SHARED + "/paper.md`", "(../" + "no" + "tes/common.md)", " no" + "tes/common.md"):
        assert OUTSIDE.search(bad), bad
    for ok in ("docs/study.md", "footnotes", "release notes are below", "shared memory"):
        assert not OUTSIDE.search(ok), ok


def test_no_tracked_file_points_outside_the_repository() -> None:
    hits = []
    for rel in _tracked():
        path = REPO / rel
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{rel}:{n}: {line.strip()[:120]}")
    assert not hits, "references outside the repository (write it into docs/ instead):\n" + "\n".join(hits)


@pytest.mark.parametrize("name", DOCS)
def test_contract_docs_exist(name: str) -> None:
    text = (REPO / "docs" / name).read_text(encoding="utf-8")
    assert text.startswith("# ") and len(text) > 500


def test_the_readme_is_short_and_every_path_it_names_exists() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, f"README.md: {len(text.splitlines())} lines"
    assert "docs/architecture.md" in text
    missing = []
    for ref in re.findall(r"`((?:m2dino|docs|tests|notebooks|data)/[^`\s]*)`", text):
        head, brace, tail = ref.partition("{")
        names = [head + n + tail.partition("}")[2] for n in tail.partition("}")[0].split(",")] if brace else [ref]
        for name in names:
            if "<" in name or "*" in name:
                continue
            if not (REPO / name.rstrip("/")).exists():
                missing.append(name)
    assert not missing, f"README.md names paths that do not exist: {missing}"
