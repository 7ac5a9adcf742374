"""Streamed reading of .xlsx uploads: rows come one at a time, so memory does not grow with the file.

openpyxl's read-only mode would do, but it parses every sheet that lacks a `<dimension>` (openpyxl's own
write-only files, many exporters) once more just to size it, and then spends most of its time per cell;
reading 100,000 rows x 11 columns took it 12-20 s here. This reader parses the sheet XML with expat
(the C parser in the standard library) and needs about 3 s for the same file, with memory as flat: it keeps
the shared-strings table (bounded by the upload size cap, as in every xlsx reader) and one parsed chunk.
openpyxl's helpers still decide which number formats are dates and convert Excel serial dates.

Everything wrong with the file as a whole (not a workbook, an old .xls, no sheet with the expected
columns, required columns missing, damaged XML) is an `ImportFileError` whose message names the file or
the sheet; problems of single cells are left to the caller.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.etree import ElementTree
from xml.parsers import expat

from flask_babel import gettext as _
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

from core.errors import UserInputError
from core.importing.templates import ColumnSpec, normalise_header

EXCEL_MAX_ROWS = 1_048_576
HEADER_SEARCH_ROWS = 10  # a title line or two above the header row is tolerated
_CHUNK = 256 * 1024
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx
_REL_TYPES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_STRICT_REL_TYPES = "http://purl.oclc.org/ooxml/officeDocument/relationships/"


class ImportFileError(UserInputError):
    """The file as a whole cannot be imported; the message names the file or the sheet."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# --- the workbook --------------------------------------------------------------------------------------


@dataclass
class Sheet:
    name: str
    path: str
    hidden: bool = False


class Workbook:
    """An .xlsx file: its sheets, shared strings and date styles; rows are read on demand."""

    def __init__(self, fileobj, filename: str = ""):
        self.filename = filename
        head = fileobj.read(8)
        fileobj.seek(0)
        if head == _OLE_SIGNATURE:
            raise ImportFileError(_("%(file)s is an Excel 97-2003 workbook (.xls) or a password-protected one: "
                                    "save it as an unprotected Excel workbook (.xlsx).", file=filename))
        try:
            self.zip = zipfile.ZipFile(fileobj)
            names = set(self.zip.namelist())
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
            raise ImportFileError(_("%(file)s is not an Excel workbook (.xlsx): save it in Excel as \"Excel "
                                    "Workbook (*.xlsx)\".", file=filename)) from None
        self.names = names
        try:
            self.workbook_path = self._office_document()
            if self.workbook_path not in names:
                raise KeyError(self.workbook_path)
            self._read_workbook()
            self.shared_strings = self._read_shared_strings()
            self.date_styles = self._read_date_styles()
        except ImportFileError:
            raise
        except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, ValueError, EOFError, OSError):
            raise ImportFileError(_("%(file)s is not an Excel workbook (.xlsx), or it is damaged: open it in "
                                    "Excel and save it again as .xlsx.", file=filename)) from None

    def _xml(self, path: str):
        with self.zip.open(path) as stream:
            return ElementTree.parse(stream).getroot()

    def _relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """rId -> (type, absolute path) of the relationships of `part`."""
        folder, name = posixpath.split(part)
        rels_path = posixpath.join(folder, "_rels", name + ".rels")
        if rels_path not in self.names:
            return {}
        result = {}
        for rel in self._xml(rels_path):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External":
                continue
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))
            result[rel.get("Id")] = (rel.get("Type", ""), path)
        return result

    def _office_document(self) -> str:
        for rel_type, path in self._relationships("").values():
            if rel_type.endswith("/officeDocument"):
                return path
        return "xl/workbook.xml"

    def _read_workbook(self):
        root = self._xml(self.workbook_path)
        rels = self._relationships(self.workbook_path)
        self.epoch = CALENDAR_WINDOWS_1900
        self.sheets: list[Sheet] = []
        self._parts = {rel_type.rpartition("/")[2]: path for rel_type, path in rels.values()}
        for element in root.iter():
            tag = _local(element.tag)
            if tag == "workbookPr" and element.get("date1904") in ("1", "true"):
                self.epoch = CALENDAR_MAC_1904
            elif tag == "sheet":
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
                rel_type, path = rels.get(rid, ("", ""))
                if rel_type.rpartition("/")[2] != "worksheet" or path not in self.names:
                    continue  # chart sheets, dialog sheets
                self.sheets.append(Sheet(element.get("name", ""), path, element.get("state", "visible") != "visible"))

    def _read_shared_strings(self) -> list[str]:
        path = self._parts.get("sharedStrings")
        if not path or path not in self.names:
            return []
        strings = []
        with self.zip.open(path) as stream:
            for _event, element in ElementTree.iterparse(stream, events=("end",)):
                if _local(element.tag) != "si":
                    continue
                parts = []
                for child in element:  # plain <t>, or rich-text runs <r><t>; phonetic hints <rPh> are not text
                    tag = _local(child.tag)
                    if tag == "t":
                        parts.append(child.text or "")
                    elif tag == "r":
                        parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
                strings.append("".join(parts))
                element.clear()
        return strings

    def _read_date_styles(self) -> frozenset[int]:
        path = self._parts.get("styles")
        if not path or path not in self.names:
            return frozenset()
        root = self._xml(path)
        formats = dict(BUILTIN_FORMATS)
        dates = set()
        for element in root:
            tag = _local(element.tag)
            if tag == "numFmts":
                for fmt in element:
                    formats[int(fmt.get("numFmtId", -1))] = fmt.get("formatCode", "")
            elif tag == "cellXfs":
                for index, xf in enumerate(element):
                    code = formats.get(int(xf.get("numFmtId", 0)))
                    if code and is_date_format(code):
                        dates.add(index)
        return frozenset(dates)

    def rows(self, sheet: Sheet, start_row: int = 1) -> Iterator[tuple[int, dict[int, object]]]:
        """(row number, {column index from 0: value}) for every row with a value, from `start_row` on."""
        parser = _SheetParser(self, sheet)
        with self.zip.open(sheet.path) as stream:
            while True:
                try:
                    chunk = stream.read(_CHUNK)
                    parser.feed(chunk, final=not chunk)
                except (expat.ExpatError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                    raise ImportFileError(_("Sheet \"%(sheet)s\" of %(file)s is damaged after row %(row)d (%(why)s): "
                                            "open the file in Excel and save it again.", sheet=sheet.name,
                                            file=self.filename, row=parser.row_number, why=exc)) from None
                for number, cells in parser.take():
                    if number > EXCEL_MAX_ROWS:
                        raise ImportFileError(_("Sheet \"%(sheet)s\" has more rows than Excel allows.",
                                                sheet=sheet.name))
                    if number >= start_row:
                        yield number, cells
                if not chunk:
                    return


_COLUMN_INDEXES: dict[str, int] = {}


def column_index(letters: str) -> int:
    index = _COLUMN_INDEXES.get(letters)
    if index is None:
        index = 0
        for char in letters:
            index = index * 26 + (ord(char.upper()) - 64)
        index -= 1
        if len(_COLUMN_INDEXES) < 20000:
            _COLUMN_INDEXES[letters] = index
    return index


class _SheetParser:
    """Push parser of one worksheet's XML: expat calls it per element; finished rows wait in a list."""

    def __init__(self, workbook: Workbook, sheet: Sheet):
        self.strings = workbook.shared_strings
        self.date_styles = workbook.date_styles
        self.epoch = workbook.epoch
        self.sheet = sheet
        self.done: list = []
        self.row_number = 0
        self.cells: dict[int, object] = {}
        self.column = -1
        self.cell_type = None
        self.cell_style = None
        self.parts: list[str] = []
        self.capture = False
        self.in_phonetic = False
        self.prefix = None
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._text

    def feed(self, data: bytes, final: bool):
        self.parser.Parse(data, final)

    def take(self) -> list:
        done, self.done = self.done, []
        return done

    def _start(self, name, attrs):
        if self.prefix is None:  # the root element: "worksheet" or "x:worksheet"
            self.prefix = name[: -len("worksheet")] if name.endswith("worksheet") else ""
        if self.prefix:
            if not name.startswith(self.prefix):
                return
            name = name[len(self.prefix):]
        if name == "c":
            ref = attrs.get("r")
            self.column = column_index(ref.rstrip("0123456789")) if ref else self.column + 1
            self.cell_type = attrs.get("t")
            self.cell_style = attrs.get("s")
            self.parts = []
        elif name == "v" or (name == "t" and not self.in_phonetic):
            self.capture = True
        elif name == "row":
            number = attrs.get("r")
            self.row_number = int(number) if number else self.row_number + 1
            self.cells = {}
            self.column = -1
        elif name == "rPh":
            self.in_phonetic = True

    def _end(self, name):
        if self.prefix:
            if not name.startswith(self.prefix):
                return
            name = name[len(self.prefix):]
        if name == "c":
            value = self._value()
            if value is not None:
                self.cells[self.column] = value
        elif name == "v" or name == "t":
            self.capture = False
        elif name == "row":
            if self.cells:
                self.done.append((self.row_number, self.cells))
        elif name == "rPh":
            self.in_phonetic = False

    def _text(self, data):
        if self.capture:
            self.parts.append(data)

    def _value(self):
        text = "".join(self.parts) if self.parts else None
        kind = self.cell_type
        if kind == "s":
            return self.strings[int(text)] if text is not None else None
        if kind == "inlineStr" or kind == "str":
            return text if text else None
        if text is None or text == "":
            return None
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "e":
            return text  # #N/A, #VALUE!: a value the column will refuse, named in the report
        if kind == "d":
            try:
                return dt.datetime.fromisoformat(text.strip())
            except ValueError:
                return text
        try:
            number = float(text) if any(ch in text for ch in ".eE") else int(text)
        except ValueError:
            return text
        if self.cell_style is not None and self.date_styles and int(self.cell_style) in self.date_styles:
            try:
                return from_excel(number, self.epoch)
            except (ValueError, OverflowError):
                return number
        return number


# --- the table of an import ----------------------------------------------------------------------------


@dataclass
class Table:
    """The sheet to import, which column holds what, and the header texts as the file spells them."""

    workbook: Workbook
    sheet: Sheet
    header_row: int
    columns: dict[int, ColumnSpec]  # column index -> spec
    headers: dict[str, str]  # spec key -> the header text in the file
    ignored: list[str] = field(default_factory=list)

    def rows(self) -> Iterator[tuple[int, dict[str, object]]]:
        """(row number, {spec key: cell value}) for every row after the header with a value in a known column."""
        wanted = self.columns
        for number, cells in self.workbook.rows(self.sheet, self.header_row + 1):
            values = {wanted[i].key: v for i, v in cells.items() if i in wanted}
            if any(not (isinstance(v, str) and not v.strip()) for v in values.values()):
                yield number, values


def _header_match(cells: dict[int, object], aliases: dict[str, ColumnSpec]):
    matched, unknown = {}, []
    for index in sorted(cells):
        text = normalise_header(cells[index])
        if not text:
            continue
        spec = aliases.get(text)
        if spec is None:
            unknown.append((index, str(cells[index]).strip()))
        else:
            matched.setdefault(spec.key, []).append((index, spec, str(cells[index]).strip()))
    return matched, unknown


def _alias_map(columns) -> dict[str, ColumnSpec]:
    aliases = {}
    for spec in columns:
        for alias in spec.aliases():
            aliases.setdefault(alias, spec)
    return aliases


def open_table(fileobj, filename: str, columns: list[ColumnSpec], entity_label: str,
               other_entities: dict[str, list[ColumnSpec]] | None = None) -> Table:
    """The sheet of `fileobj` whose header row names the most of `columns`; an ImportFileError when none does,
    when required columns are missing or a column appears twice."""
    workbook = Workbook(fileobj, filename)
    aliases = _alias_map(columns)
    best = None  # (count, sheet, header row, matched, unknown)
    for sheet in sorted(workbook.sheets, key=lambda s: s.hidden):
        for number, cells in workbook.rows(sheet):
            if number > HEADER_SEARCH_ROWS:
                break
            matched, unknown = _header_match(cells, aliases)
            if matched and (best is None or len(matched) > best[0]):
                best = (len(matched), sheet, number, matched, unknown)
    sheet_names = ", ".join(f"\"{s.name}\"" for s in workbook.sheets) or "-"
    if best is None:
        for other_label, other_columns in (other_entities or {}).items():
            if _looks_like(workbook, other_columns):
                raise ImportFileError(_("%(file)s holds %(other)s, not %(entity)s: choose the matching import or "
                                        "use the %(entity)s template.", file=filename, other=other_label,
                                        entity=entity_label))
        raise ImportFileError(_("No sheet of %(file)s has the columns of an import of %(entity)s (sheets: "
                                "%(sheets)s). Use the template: its first row names the columns.",
                                file=filename, entity=entity_label, sheets=sheet_names))
    _count, sheet, header_row, matched, unknown = best
    twice = [(entries[0][2], [i for i, _s, _t in entries]) for entries in matched.values() if len(entries) > 1]
    if twice:
        text, indexes = twice[0]
        raise ImportFileError(_("Sheet \"%(sheet)s\": the column \"%(column)s\" appears more than once (columns "
                                "%(letters)s).", sheet=sheet.name, column=text,
                                letters=", ".join(_letter(i) for i in indexes)))
    missing = [spec for spec in columns if spec.required and spec.key not in matched]
    if missing:
        names = ", ".join(spec.label_in(_current_locale()) for spec in missing)
        raise ImportFileError(_("Sheet \"%(sheet)s\" of %(file)s lacks the required column(s): %(columns)s.",
                                sheet=sheet.name, file=filename, columns=names))
    return Table(
        workbook=workbook, sheet=sheet, header_row=header_row,
        columns={entries[0][0]: entries[0][1] for entries in matched.values()},
        headers={key: entries[0][2] for key, entries in matched.items()},
        ignored=[f"{_letter(i)}: {text}" for i, text in unknown],
    )


def _looks_like(workbook: Workbook, columns) -> bool:
    aliases = _alias_map(columns)
    required = {spec.key for spec in columns if spec.required}
    for sheet in workbook.sheets:
        for number, cells in workbook.rows(sheet):
            if number > HEADER_SEARCH_ROWS:
                break
            matched, _unknown = _header_match(cells, aliases)
            if required and required <= set(matched):
                return True
    return False


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _current_locale() -> str:
    from core.lowcode.fields import locale

    return locale()
