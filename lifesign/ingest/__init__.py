"""Evidence ingestion: department feeds -> validated, pseudonymised evidence lake.

Source definitions (`sources`), streaming readers (`readers`), vectorised parsing of types and
times (`parsing`); the pipeline, quarantine and lake writer build on them.
"""

from lifesign.ingest.readers import RawChunk, ReaderError, ReaderProblem, read_records
from lifesign.ingest.sources import (
    PullSpec,
    SourceDefinition,
    SourceDefinitionError,
    SourceProblem,
    load_sources,
    match_source,
)

__all__ = [
    "PullSpec",
    "RawChunk",
    "ReaderError",
    "ReaderProblem",
    "SourceDefinition",
    "SourceDefinitionError",
    "SourceProblem",
    "load_sources",
    "match_source",
    "read_records",
]
