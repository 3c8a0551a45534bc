"""Source definitions: how each department's feed is read, as data (one YAML file per source).

A definition says where a feed's files are (`file_pattern`), how they are encoded, which of the
department's own columns hold the canonical fields, how its type values map to catalog evidence
types, and how its dates are written. `load_sources` validates every file against the catalog
and reports every problem at once, each naming file, line, key and what is wrong.

The format is documented in docs/sources.md; the packaged definitions of the synthetic city
are in lifesign/ingest/data/sources/.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, ClassVar

import yaml

from lifesign.catalog import Catalog
from lifesign.errors import FileProblem, FileProblemsError, LifesignError, Location

PACKAGED_DIR = Path(__file__).resolve().parent / "data" / "sources"
SOURCES_ENV = "LIFESIGN_SOURCES"

CANONICAL_FIELDS = (
    "record_id",
    "id_number",
    "evidence_type",
    "event_time",
    "name",
    "birth_date",
    "phone",
    "place",
)
REQUIRED_FIELDS = ("record_id", "id_number", "evidence_type", "event_time")
DATE_FIELDS = ("event_time", "birth_date")
FORMATS = ("csv", "xlsx", "jsonl", "parquet", "database")
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030")
EXCEL = "excel"  # an XLSX date cell (the reader turns it into ISO 8601 text)
ISO8601 = "iso8601"  # 2024-11-01, 2024-11-01 08:30[:00], 2024-11-01T08:30:00[+08:00]
# strftime directives a date pattern may use; %-m/%-d/%-H: without a leading zero.
DATE_DIRECTIVES = frozenset({"Y", "m", "d", "H", "M", "S", "-m", "-d", "-H", "%"})

_KEYS = (
    "code",
    "department",
    "name_zh",
    "format",
    "encoding",
    "sheet",
    "canonical",
    "columns",
    "type_column",
    "types",
    "fixed_type",
    "date_formats",
    "file_pattern",
    "keep_non_recipients",
    "pull",
)
_PULL_KEYS = ("url", "table", "query", "watermark_column", "order")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_DIRECTIVE_RE = re.compile(r"%(-?.)")

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


SourceProblem = FileProblem


@dataclass
class SourceDefinitionError(FileProblemsError):
    """The source definitions are unusable; `problems` lists every problem found."""

    SUBJECT: ClassVar[str] = "the source definitions"
    problems: tuple[SourceProblem, ...] = ()


@dataclass(frozen=True)
class PullSpec:
    """Where a `database` source is pulled from, incrementally on `watermark_column`.

    `url` is an SQLAlchemy URL, or "env:VARNAME" to read it from the environment (so that no
    password sits in a definition file). Exactly one of `table` and `query`. Rows are read in
    the order of `order` (default: the watermark column)."""

    url: str
    watermark_column: str
    table: str | None = None
    query: str | None = None
    order: tuple[str, ...] = ()

    def resolved_url(self) -> str:
        """The URL, with "env:VARNAME" looked up (LifesignError when the variable is unset)."""
        if not self.url.startswith("env:"):
            return self.url
        name = self.url[4:]
        value = os.environ.get(name)
        if not value:
            raise LifesignError(
                f"the database URL variable {name} is not set",
                "the source definition reads its pull URL from the environment",
                Location(key="pull.url"),
            )
        return value

    @property
    def order_columns(self) -> tuple[str, ...]:
        return self.order or (self.watermark_column,)


@dataclass(frozen=True)
class SourceDefinition:
    """How one feed is read. See docs/sources.md for every key."""

    code: str
    department: str
    name_zh: str
    format: str
    encoding: str = "auto"
    sheet: str | None = None
    # canonical field -> the department's own column name
    columns: dict[str, str] = field(default_factory=dict, hash=False)
    # department value -> catalog evidence type (the column is columns["evidence_type"])
    types: dict[str, str] = field(default_factory=dict, hash=False)
    fixed_type: str | None = None
    # canonical date field -> patterns tried in order (strptime, "excel" or "iso8601")
    date_formats: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    file_pattern: str | None = None
    keep_non_recipients: bool = False
    pull: PullSpec | None = None
    canonical: bool = False  # the department sends the canonical field names
    type_column: str | None = None
    definition_file: str | None = None  # the YAML file it came from

    @property
    def required_columns(self) -> dict[str, str]:
        """Canonical field -> department column that must be in every file."""
        if self.canonical:
            return {f: c for f, c in self.columns.items() if f in REQUIRED_FIELDS}
        return dict(self.columns)

    def formats_for(self, canonical_field: str) -> tuple[str, ...]:
        return self.date_formats.get(canonical_field, (ISO8601,))


def match_source(
    sources: Mapping[str, SourceDefinition], path: Path | str
) -> SourceDefinition | None:
    """The source whose `file_pattern` matches `path` (case-insensitive; a pattern with a
    folder, e.g. "yibao/*.csv", matches the end of the path). When several match, the one with
    the longest pattern wins (the most specific)."""
    pure = PurePath(path)
    best: SourceDefinition | None = None
    for source in sources.values():
        pattern = source.file_pattern
        if not pattern or not _matches(pure, pattern):
            continue
        if best is None or len(pattern) > len(best.file_pattern or ""):
            best = source
    return best


def _matches(path: PurePath, pattern: str) -> bool:
    parts = PurePath(pattern.lower()).parts
    mine = [p.lower() for p in path.parts]
    if len(parts) > len(mine):
        return False
    tail = mine[len(mine) - len(parts) :]
    return all(fnmatch.fnmatchcase(have, want) for have, want in zip(tail, parts, strict=True))


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def sources_directory(directory: Path | None = None) -> Path:
    """`directory`, else $LIFESIGN_SOURCES, else the packaged definitions."""
    if directory is not None:
        return Path(directory)
    env = os.environ.get(SOURCES_ENV)
    return Path(env) if env else PACKAGED_DIR


def load_sources(directory: Path | None, catalog: Catalog) -> dict[str, SourceDefinition]:
    """Load and validate every `*.yaml`/`*.yml` in the folder (None: $LIFESIGN_SOURCES or the
    packaged definitions) and in the folders plugins give (lifesign_source_definition_dirs),
    by source code. Raises SourceDefinitionError with every problem."""
    folder = sources_directory(directory)
    problems: list[SourceProblem] = []
    if not folder.is_dir():
        raise SourceDefinitionError.of(
            [SourceProblem(str(folder), "", "not a folder of source definitions")], folder
        )
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise SourceDefinitionError.of(
            [SourceProblem(folder.name, "", "no source definition files (*.yaml) in the folder")],
            folder,
        )
    from lifesign.plugins import extra_source_dirs  # plugins may ship department feeds

    for extra in extra_source_dirs():
        if not extra.is_dir():
            problems.append(SourceProblem(str(extra), "", "a plugin's source folder is missing"))
            continue
        files += sorted(p for p in extra.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    found: dict[str, SourceDefinition] = {}
    first_file: dict[str, str] = {}
    for path in files:
        checker = _Checker(path.name if path.parent == folder else str(path), problems, catalog)
        definition = checker.load(path)
        if definition is None:
            continue
        if definition.code in found:
            checker.add(
                checker.root.child("code"),
                f"duplicate source code {definition.code!r}: also defined in "
                f"{first_file[definition.code]}",
            )
            continue
        found[definition.code] = definition
        first_file[definition.code] = path.name
    if problems:
        raise SourceDefinitionError.of(problems, folder)
    return found


def load_source_text(text: str, catalog: Catalog, file: str = "<text>") -> SourceDefinition:
    """One definition from YAML text (for tests and tools); raises SourceDefinitionError."""
    problems: list[SourceProblem] = []
    definition = _Checker(file, problems, catalog).parse(text)
    if problems or definition is None:
        raise SourceDefinitionError.of(problems or [SourceProblem(file, "", "empty")], Path("."))
    return definition


@dataclass(frozen=True)
class _At:
    """A key path in the file with its YAML node (for the line number)."""

    key: str
    node: yaml.Node | None

    @property
    def line(self) -> int | None:
        return None if self.node is None else self.node.start_mark.line + 1

    def child(self, name: str) -> _At:
        key = f"{self.key}.{name}" if self.key else name
        if isinstance(self.node, yaml.MappingNode):
            for key_node, value_node in self.node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == name:
                    return _At(key, value_node)
        return _At(key, self.node)

    def key_of(self, name: str) -> _At:
        """The position of the key `name` itself (for unknown keys)."""
        key = f"{self.key}.{name}" if self.key else name
        if isinstance(self.node, yaml.MappingNode):
            for key_node, _ in self.node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == name:
                    return _At(key, key_node)
        return _At(key, self.node)


class _Checker:
    """Validates one definition file, adding every problem found to `problems`."""

    def __init__(self, file: str, problems: list[SourceProblem], catalog: Catalog) -> None:
        self.file = file
        self.problems = problems
        self.catalog = catalog
        self.root = _At("", None)
        self.ok = True

    def add(self, at: _At, problem: str) -> None:
        self.problems.append(SourceProblem(self.file, at.key, problem, at.line))
        self.ok = False

    def load(self, path: Path) -> SourceDefinition | None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self.add(self.root, f"cannot read the file: {error}")
            return None
        return self.parse(text)

    def parse(self, text: str) -> SourceDefinition | None:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = None if mark is None else mark.line + 1
            what = " ".join(str(part) for part in (error.context, error.problem) if part)
            self.problems.append(SourceProblem(self.file, "", f"YAML syntax error: {what}", line))
            return None
        except yaml.YAMLError as error:
            self.add(self.root, f"YAML syntax error: {error}")
            return None
        finally:
            loader.dispose()
        self.root = _At("", node)
        if not isinstance(data, dict):
            self.add(self.root, "the file must be a mapping of keys (code:, department:, ...)")
            return None
        return self.definition(data)

    # -- helpers -----------------------------------------------------------------------------

    def _unknown_keys(self, at: _At, data: Mapping[Any, Any], allowed: tuple[str, ...]) -> None:
        for name in data:
            if name not in allowed:
                hint = _closest(str(name), allowed)
                self.add(
                    at.key_of(str(name)),
                    f"unknown key {name!r}"
                    + (
                        f" (did you mean {hint!r}?)"
                        if hint
                        else f" (allowed: {', '.join(allowed)})"
                    ),
                )

    def _text(self, data: Mapping[str, Any], name: str, at: _At, required: bool) -> str | None:
        value = data.get(name)
        if value is None:
            if required:
                self.add(at.child(name), f"missing required key {name!r}")
            return None
        if isinstance(value, (dict, list, bool)):
            self.add(at.child(name), f"must be text, got {type(value).__name__}")
            return None
        text = str(value).strip()
        if not text:
            self.add(at.child(name), "must not be empty")
            return None
        return text

    def _mapping(self, data: Mapping[str, Any], name: str) -> dict[str, str]:
        value = data.get(name)
        if value is None:
            return {}
        at = self.root.child(name)
        if not isinstance(value, dict):
            self.add(at, f"must be a mapping, got {type(value).__name__}")
            return {}
        result: dict[str, str] = {}
        for key, item in value.items():
            if item is None or isinstance(item, (dict, list)) or str(item).strip() == "":
                self.add(at.child(str(key)), f"must be text, got {item!r}")
                continue
            result[str(key)] = str(item).strip()
        return result

    # -- the definition ----------------------------------------------------------------------

    def definition(self, data: dict[str, Any]) -> SourceDefinition | None:
        root = self.root
        self._unknown_keys(root, data, _KEYS)
        code = self._text(data, "code", root, required=True)
        if code and not _CODE_RE.match(code):
            self.add(root.child("code"), f"code {code!r} must be lowercase letters, digits and _")
        department = self._text(data, "department", root, required=True)
        if department and department not in self.catalog.departments:
            self.add(root.child("department"), f"unknown department {department!r}")
            department = None
        name_zh = self._text(data, "name_zh", root, required=False) or code or ""
        fmt = self._text(data, "format", root, required=True)
        if fmt and fmt not in FORMATS:
            self.add(root.child("format"), f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
            fmt = None
        encoding = self._text(data, "encoding", root, required=False) or "auto"
        if encoding not in ENCODINGS:
            self.add(
                root.child("encoding"),
                f"unknown encoding {encoding!r} (one of: {', '.join(ENCODINGS)})",
            )
        canonical = self._boolean(data, "canonical")
        keep = self._boolean(data, "keep_non_recipients")
        sheet = self._text(data, "sheet", root, required=False)
        if sheet and fmt and fmt != "xlsx":
            self.add(root.child("sheet"), "'sheet' is only for format xlsx")
        file_pattern = self._text(data, "file_pattern", root, required=False)

        columns = self._columns(data, canonical)
        type_column, types, fixed_type = self._types(data, columns, department, canonical)
        date_formats = self._date_formats(data, fmt, canonical)
        pull = self._pull(data, fmt)
        if not self.ok or not code or not department or not fmt:
            return None
        return SourceDefinition(
            code=code,
            department=department,
            name_zh=name_zh,
            format=fmt,
            encoding=encoding,
            sheet=sheet,
            columns=columns,
            types=types,
            fixed_type=fixed_type,
            date_formats=date_formats,
            file_pattern=file_pattern,
            keep_non_recipients=keep,
            pull=pull,
            canonical=canonical,
            type_column=type_column,
            definition_file=self.file,
        )

    def _boolean(self, data: Mapping[str, Any], name: str) -> bool:
        value = data.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.add(self.root.child(name), f"must be true or false, got {value!r}")
            return False
        return value

    def _columns(self, data: Mapping[str, Any], canonical: bool) -> dict[str, str]:
        at = self.root.child("columns")
        given = self._mapping(data, "columns")
        for name in given:
            if name not in CANONICAL_FIELDS:
                hint = _closest(name, CANONICAL_FIELDS)
                self.add(
                    at.key_of(name),
                    f"unknown canonical field {name!r}"
                    + (f" (did you mean {hint!r}?)" if hint else "")
                    + f"; the fields are: {', '.join(CANONICAL_FIELDS)}",
                )
        given = {k: v for k, v in given.items() if k in CANONICAL_FIELDS}
        if canonical:
            return {**{f: f for f in CANONICAL_FIELDS}, **given}
        type_column = data.get("type_column")
        fixed = data.get("fixed_type") is not None
        if data.get("columns") is None:
            self.add(at, "missing required key 'columns' (or set 'canonical: true')")
            return given
        for needed in REQUIRED_FIELDS:
            if needed in given:
                continue
            if needed == "evidence_type" and (type_column is not None or fixed):
                continue  # named by type_column, or not in the file at all
            self.add(at, f"missing required canonical column {needed!r}")
        return given

    def _types(
        self,
        data: Mapping[str, Any],
        columns: dict[str, str],
        department: str | None,
        canonical: bool,
    ) -> tuple[str | None, dict[str, str], str | None]:
        root = self.root
        type_column = self._text(data, "type_column", root, required=False)
        fixed = self._text(data, "fixed_type", root, required=False)
        types = self._mapping(data, "types")
        if type_column and fixed:
            self.add(
                root.child("fixed_type"), "give either 'type_column' or 'fixed_type', not both"
            )
        if fixed:
            self._check_type(root.child("fixed_type"), fixed, department)
            if "evidence_type" in columns and not canonical:
                self.add(
                    root.child("columns").child("evidence_type"),
                    "a source with 'fixed_type' has no evidence_type column",
                )
            if types:
                self.add(root.child("types"), "'types' needs 'type_column', not 'fixed_type'")
            if canonical:
                columns.pop("evidence_type", None)
            return None, {}, fixed
        if type_column:
            mapped = columns.get("evidence_type")
            if mapped is not None and mapped != type_column and not canonical:
                self.add(
                    root.child("type_column"),
                    f"type_column {type_column!r} differs from columns.evidence_type {mapped!r}",
                )
            columns["evidence_type"] = type_column
        elif not canonical:
            self.add(
                root,
                "give 'type_column' (with 'types') or 'fixed_type': how a record's evidence "
                "type is known",
            )
        if type_column and not types and not canonical:
            self.add(root.child("types"), "'type_column' needs 'types': department value -> type")
        types_at = root.child("types")
        for value, code in types.items():
            self._check_type(types_at.child(value), code, department)
        return type_column or (columns.get("evidence_type") if canonical else None), types, None

    def _check_type(self, at: _At, code: str, department: str | None) -> None:
        known = self.catalog.evidence_types.get(code)
        if known is None:
            hint = _closest(code, tuple(self.catalog.evidence_types))
            self.add(
                at,
                f"unknown evidence type {code!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
            )
        elif department is not None and known.department != department:
            self.add(
                at,
                f"evidence type {code!r} belongs to department {known.department!r}, "
                f"not {department!r}",
            )

    def _date_formats(
        self, data: Mapping[str, Any], fmt: str | None, canonical: bool
    ) -> dict[str, tuple[str, ...]]:
        value = data.get("date_formats")
        at = self.root.child("date_formats")
        result: dict[str, tuple[str, ...]] = (
            {f: (ISO8601,) for f in DATE_FIELDS} if canonical else {}
        )
        if value is None:
            return result
        if not isinstance(value, dict):
            self.add(at, f"must be a mapping of field -> pattern(s), got {type(value).__name__}")
            return result
        for name, patterns in value.items():
            here = at.child(str(name))
            if name not in DATE_FIELDS:
                self.add(
                    at.key_of(str(name)),
                    f"{name!r} is not a date field (date fields: {', '.join(DATE_FIELDS)})",
                )
                continue
            items = [patterns] if isinstance(patterns, str) else patterns
            if not isinstance(items, list) or not items:
                self.add(here, "must be a pattern or a list of patterns")
                continue
            good: list[str] = []
            for pattern in items:
                problem = date_format_problem(pattern, fmt)
                if problem:
                    self.add(here, problem)
                else:
                    good.append(str(pattern))
            result[str(name)] = tuple(good)
        return result

    def _pull(self, data: Mapping[str, Any], fmt: str | None) -> PullSpec | None:
        value = data.get("pull")
        at = self.root.child("pull")
        if value is None:
            if fmt == "database":
                self.add(self.root, "a source of format 'database' needs 'pull'")
            return None
        if fmt and fmt != "database":
            self.add(at, "'pull' is only for format 'database'")
        if not isinstance(value, dict):
            self.add(at, f"must be a mapping, got {type(value).__name__}")
            return None
        self._unknown_keys(at, value, _PULL_KEYS)
        url = self._text(value, "url", at, required=True)
        table = self._text(value, "table", at, required=False)
        query = self._text(value, "query", at, required=False)
        watermark = self._text(value, "watermark_column", at, required=False)
        if watermark is None:
            self.add(
                at.child("watermark_column"),
                "missing 'watermark_column': a pull is incremental on a column that only grows "
                "(an update time or a sequence)",
            )
        if (table is None) == (query is None):
            self.add(at, "give exactly one of 'table' and 'query'")
        order_raw = value.get("order")
        order: tuple[str, ...] = ()
        if isinstance(order_raw, str):
            order = (order_raw,)
        elif isinstance(order_raw, list) and all(isinstance(o, str) for o in order_raw):
            order = tuple(order_raw)
        elif order_raw is not None:
            self.add(at.child("order"), "must be a column name or a list of column names")
        if url is None or watermark is None:
            return None
        return PullSpec(url=url, watermark_column=watermark, table=table, query=query, order=order)


def date_format_problem(pattern: object, fmt: str | None) -> str | None:
    """Why a date pattern is unusable, or None."""
    if not isinstance(pattern, str) or not pattern.strip():
        return f"bad date format {pattern!r}: must be text"
    if pattern == EXCEL:
        if fmt is not None and fmt != "xlsx":
            return "bad date format 'excel': only XLSX files have date cells"
        return None
    if pattern == ISO8601:
        return None
    directives = _DIRECTIVE_RE.findall(pattern)
    unknown = sorted({d for d in directives if d not in DATE_DIRECTIVES})
    if unknown or pattern.endswith("%"):
        shown = ", ".join("%" + d for d in unknown) or "a lone %"
        return (
            f"bad date format {pattern!r}: {shown} not understood "
            "(use %Y %m %d %H %M %S, %-m %-d %-H, or 'excel' / 'iso8601')"
        )
    have = set(directives)
    if "Y" not in have or not ({"m", "-m"} & have) or not ({"d", "-d"} & have):
        return f"bad date format {pattern!r}: needs a year (%Y), a month (%m) and a day (%d)"
    return None


def _closest(word: str, options: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.75)
    return found[0] if found else None
