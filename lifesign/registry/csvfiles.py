"""Reading department CSV files: encoding detection, hashing, streaming rows with line numbers.

Encodings accepted: UTF-8 (with or without BOM) and GBK, read as GB18030 (its superset).
The encoding is detected from the first megabyte: a BOM means UTF-8; bytes that decode as
UTF-8 mean UTF-8; anything else is GB18030. A file that later turns out not to be in the
detected encoding stops with an error that names the file and line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path

from lifesign.errors import LifesignError, Location

SNIFF_BYTES = 1 << 20

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
GB18030 = "gb18030"


def detect_encoding(path: Path) -> str:
    """`utf-8-sig`, `utf-8` or `gb18030`, from the first megabyte of `path`."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        at_end = not handle.read(1)
    if head.startswith(codecs.BOM_UTF8):
        return UTF8_BOM
    decoder = codecs.getincrementaldecoder(UTF8)()
    try:
        decoder.decode(head, final=at_end)
    except UnicodeDecodeError:
        return GB18030
    return UTF8


def file_digest(path: Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class CsvFile:
    """A CSV file read row by row: `header`, then `rows()` yields (line number, cells)."""

    def __init__(self, path: Path, encoding: str | None = None) -> None:
        self.path = path
        self.encoding = encoding or detect_encoding(path)
        self._handle = path.open(encoding=self.encoding, newline="", errors="strict")
        self._reader = csv.reader(self._handle)
        try:
            first = next(self._reader, None)
        except UnicodeDecodeError as error:
            self.close()
            raise self._decode_error(error, 1) from None
        except csv.Error as error:
            self.close()
            raise LifesignError(
                "the header row is not valid CSV", str(error), Location(file=path.name, line=1)
            ) from None
        if not first or not any(cell.strip() for cell in first):
            self.close()
            raise LifesignError(
                "the file has no header row",
                "the first line must name the columns",
                Location(file=path.name, line=1),
            )
        self.header = [cell.strip().lstrip("\ufeff") for cell in first]

    def _decode_error(self, error: UnicodeDecodeError, line: int) -> LifesignError:
        return LifesignError(
            f"the file is not valid {self.encoding}",
            f"{error.reason} at byte {error.start} of a block; "
            "save it as UTF-8 or GBK, one encoding for the whole file",
            Location(file=self.path.name, line=line),
        )

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Every non-blank row with the (physical) line number where it ends."""
        reader = self._reader
        try:
            for row in reader:
                if row and (len(row) > 1 or row[0].strip()):
                    yield reader.line_num, row
        except UnicodeDecodeError as error:
            raise self._decode_error(error, reader.line_num + 1) from None
        except csv.Error as error:
            raise LifesignError(
                "a row is not valid CSV",
                str(error),
                Location(file=self.path.name, line=reader.line_num),
            ) from None
        finally:
            self.close()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
