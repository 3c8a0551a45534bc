"""Errors that say what went wrong, why, and where.

Every error the platform raises for bad input or bad configuration derives from
`LifesignError` and carries a location (file, line/row, key or field) so that one handler
(the CLI today, the API later) can render it without guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file and, inside it, a line, a key path or a field."""

    file: str | None = None
    line: int | None = None
    key: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.key:
            parts.append(f"key {self.key}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)


@dataclass
class LifesignError(Exception):
    """Base error: `what` happened, `why`, and `where`."""

    what: str
    why: str = ""
    where: Location = field(default_factory=Location)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.what
        if self.why:
            text += f": {self.why}"
        where = str(self.where)
        if where:
            text += f" ({where})"
        return text


class ConfigurationError(LifesignError):
    """The platform's own settings (home, database URL, secrets) are unusable."""


@dataclass(frozen=True)
class FileProblem:
    """One problem found in a configuration file (a catalog, a source definition...)."""

    file: str
    key: str
    problem: str
    line: int | None = None

    @property
    def location(self) -> Location:
        return Location(file=self.file, line=self.line, key=self.key or None)

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.problem}" if self.key else f"{where}: {self.problem}"


@dataclass
class FileProblemsError(LifesignError):
    """A folder of configuration files is unusable; `problems` lists every problem found.

    Subclasses name what the folder holds in `SUBJECT` (e.g. "the catalog").
    """

    SUBJECT: ClassVar[str] = "the files"
    problems: tuple[FileProblem, ...] = ()

    @classmethod
    def of(cls, problems: Iterable[FileProblem], directory: Path) -> Self:
        found = tuple(problems)
        first = found[0]
        count = f"{len(found)} problem" + ("" if len(found) == 1 else "s")
        return cls(
            what=f"{cls.SUBJECT} in {directory}: {count}",
            why="\n".join(str(p) for p in found),
            where=Location(file=str(directory / first.file), line=first.line, key=first.key),
            problems=found,
        )

    def __str__(self) -> str:
        if not self.problems:
            return super().__str__()
        return f"{self.what}:\n" + "\n".join(f"  {p}" for p in self.problems)
