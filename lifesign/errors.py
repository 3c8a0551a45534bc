"""Errors that say what went wrong, why, and where.

Every error the platform raises for bad input or bad configuration derives from
`LifesignError` and carries a location (file, line/row, key or field) so that one handler
(the CLI today, the API later) can render it without guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
