"""Where the embedded default keeps its files, and which database to use.

The home folder holds the SQLite file, the evidence lake and the secrets. It comes from
`--home`, else `LIFESIGN_HOME`, else `./lifesign-data`. `LIFESIGN_DATABASE_URL` points the
state database at PostgreSQL (or any SQLAlchemy URL) instead of the SQLite file in the home.
`LIFESIGN_CATALOG` points at a city's own catalog folder instead of the packaged one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = "lifesign-data"
SQLITE_FILE = "lifesign.db"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    catalog_dir: Path | None

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.lake_dir.mkdir(exist_ok=True)


def load_settings(
    home: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    catalog_dir: str | os.PathLike[str] | None = None,
) -> Settings:
    """Resolve the settings: explicit arguments first, then the environment, then defaults."""
    home_path = Path(home or os.environ.get("LIFESIGN_HOME") or DEFAULT_HOME).absolute()
    url = (
        database_url
        or os.environ.get("LIFESIGN_DATABASE_URL")
        or f"sqlite:///{home_path / SQLITE_FILE}"
    )
    catalog = catalog_dir or os.environ.get("LIFESIGN_CATALOG")
    return Settings(
        home=home_path,
        database_url=url,
        catalog_dir=Path(catalog).absolute() if catalog else None,
    )
