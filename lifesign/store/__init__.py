"""The state database: SQLAlchemy models, Alembic migrations, engines.

from lifesign.store import open_database
engine = open_database(settings)   # SQLite in the home, or $LIFESIGN_DATABASE_URL; upgraded
"""

from lifesign.store.database import (
    bulk_load,
    current_revision,
    downgrade,
    head_revision,
    is_sqlite,
    make_engine,
    migrate,
    open_database,
)

__all__ = [
    "bulk_load",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_sqlite",
    "make_engine",
    "migrate",
    "open_database",
]
