r"""Zone files, sans-IO: RFC 1035 master files and hosts-format files to records.

:func:`parse_zone` reads a master file (RFC 1035 §5.1, with RFC 2308's
``$TTL``): ``$ORIGIN``, ``$TTL``, ``$INCLUDE`` (when given a loader),
absolute and relative names, ``@``, a blank owner for the previous owner,
parentheses spanning lines, ``;`` comments, quoted strings with ``\"``,
``\\`` and ``\DDD`` escapes, TTL and class in either order, TTLs with units
(``1h30m``, ``1d``, ``2w``), and the types A, AAAA, CNAME, MX, TXT, NS, SOA,
PTR and SRV. :func:`parse_hosts` reads ``/etc/hosts`` lines into A/AAAA and
PTR records, with a made-up SOA per zone (see its docstring).

Why strict: a server that guessed at a broken file would answer wrongly and
with authority, so every fault is a :class:`~evweb.errors.ZoneFileError`
naming the file, the line and the reason, and nothing of the file is used.
A record without a TTL takes ``$TTL``, else the last TTL given (RFC 1035),
else, for a SOA, its minimum field. Only class IN is served.

Each record comes back as a :class:`SourceRecord`, which keeps where it was
read, so the zone checks done later (:mod:`evweb.dns.zone`) can say where too.
:func:`load_zone_files` is the small IO part: it reads files (and includes).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from evweb.dns._zonehosts import HOSTS_TTL, SourceRecord, looks_like_hosts, parse_hosts
from evweb.dns.constants import RecordType
from evweb.dns.names import normalize_name
from evweb.dns.rdata import AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, A, Rdata
from evweb.dns.records import Record
from evweb.errors import DNSError, ZoneFileError

__all__ = [
    "HOSTS_TTL",
    "SUPPORTED_TYPES",
    "SourceRecord",
    "load_zone_files",
    "looks_like_hosts",
    "parse_hosts",
    "parse_ttl",
    "parse_zone",
]

MAX_TTL = 0x7FFFFFFF  # RFC 2181 §8
MAX_INCLUDE_DEPTH = 8

Include = Callable[[str, str], tuple[str, str]]
"""``include(path, from_file) -> (text, file name)``: reads an ``$INCLUDE``d file."""


# One token of master-file text. ``bad`` catches an unterminated quote or a
# lone backslash at the end of a line.
_TOKEN = re.compile(
    r"""(?P<nl>\n)|(?P<ws>[ \t\r]+)|(?P<comment>;[^\n]*)|(?P<open>\()|(?P<close>\))
    |"(?P<quoted>(?:[^"\\\n]|\\.)*)"|(?P<word>(?:[^\s;"()\\]|\\.)+)|(?P<bad>.)""",
    re.X,
)
_TTL = re.compile(r"(?:[0-9]+[smhdwSMHDW])+|[0-9]+")
_TTL_PART = re.compile(r"([0-9]+)([smhdwSMHDW])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ESCAPE = re.compile(r"\\(?:([0-9]{3})|(.))", re.S)
_CLASSES = ("IN", "CH", "HS", "CS", "NONE", "ANY")


class Token(NamedTuple):
    """A word of an entry; ``quoted`` when it was written in double quotes."""

    text: str
    quoted: bool


class Entry(NamedTuple):
    """One logical line: its ``line`` number, whether it began with a blank, its tokens."""

    line: int
    blank_owner: bool
    tokens: list[Token]


def parse_ttl(text: str) -> int:
    """A TTL in seconds from ``3600`` or ``1h``, ``1d2h``, ``2w`` (units s m h d w).

    Raises ValueError for anything else or a value over 2**31 - 1 (RFC 2181 §8).
    """
    if _TTL.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a TTL (seconds, or units like 1h30m, 1d, 2w)")
    if text.isdigit():
        value = int(text)
    else:
        value = sum(int(n) * _UNITS[u.lower()] for n, u in _TTL_PART.findall(text))
    if value > MAX_TTL:
        raise ValueError(f"TTL {text} is over 2**31 - 1 seconds (RFC 2181)")
    return value


def entries(text: str, filename: str) -> Iterator[Entry]:
    """The logical lines of master-file ``text``: parentheses joined, comments gone."""
    line, start_line, depth = 1, 1, 0
    tokens: list[Token] = []
    blank_owner = indented = False
    line_start = True
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "nl":
            line += 1
            line_start, indented = True, False
            if depth == 0 and tokens:
                yield Entry(start_line, blank_owner, tokens)
                tokens = []
            continue
        if kind == "ws" or kind == "comment":
            indented = indented or (line_start and kind == "ws")
            line_start = False
            continue
        if not tokens and depth == 0:
            start_line, blank_owner = line, indented
        line_start = False
        depth = _paren(kind, depth, filename, line)
        if kind in ("quoted", "word"):
            tokens.append(Token(match.group(kind), kind == "quoted"))
        elif kind == "bad":
            raise ZoneFileError(filename, line, _bad_character(match.group()))
    if depth:
        raise ZoneFileError(filename, start_line, "a '(' is never closed")
    if tokens:
        yield Entry(start_line, blank_owner, tokens)


def _paren(kind: str | None, depth: int, filename: str, line: int) -> int:
    if kind == "open":
        if depth:
            raise ZoneFileError(filename, line, "parentheses cannot nest")
        return 1
    if kind == "close":
        if not depth:
            raise ZoneFileError(filename, line, "a ')' without its '('")
        return 0
    return depth


def _bad_character(char: str) -> str:
    if char == '"':
        return "a quoted string is not closed on its line"
    return "a backslash at the end of a line"


def text_bytes(text: str) -> bytes:
    r"""The bytes of a character string with ``\X`` and ``\DDD`` escapes (UTF-8 otherwise)."""
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos : match.start()].encode()
        digits, char = match.groups()
        if digits is not None:
            if int(digits) > 0xFF:
                raise ValueError(f"escape \\{digits} is over 255")
            out.append(int(digits))
        else:
            out += char.encode()
        pos = match.end()
    out += text[pos:].encode()
    return bytes(out)


def _absolute(name: str) -> bool:
    """Whether ``name`` ends with an unescaped dot."""
    if not name.endswith("."):
        return False
    stem = name[:-1]
    return (len(stem) - len(stem.rstrip("\\"))) % 2 == 0


class _Parser:
    """The state of one file's reading: origin, TTLs, previous owner."""

    def __init__(
        self, filename: str, origin: str | None, default_ttl: int | None, include: Include | None
    ) -> None:
        self.filename = filename
        self.origin = origin
        self.default_ttl = default_ttl
        self.last_ttl: int | None = None
        self.owner: str | None = None
        self.include = include
        self.line = 0
        self.records: list[SourceRecord] = []

    def fail(self, reason: str) -> ZoneFileError:
        return ZoneFileError(self.filename, self.line, reason)

    def run(self, text: str, depth: int) -> list[SourceRecord]:
        for entry in entries(text, self.filename):
            self.line = entry.line
            first = entry.tokens[0]
            if not entry.blank_owner and first.text.startswith("$") and not first.quoted:
                self.directive(entry.tokens, depth)
            else:
                self.record(entry)
        return self.records

    def name(self, token: Token) -> str:
        """A name of the file, made absolute against the origin, checked."""
        text = token.text
        if token.quoted:
            raise self.fail(f'a name cannot be quoted: "{text}"')
        if text == "@":
            if self.origin is None:
                raise self.fail("'@' with no origin (set $ORIGIN)")
            return self.origin
        if not _absolute(text):
            if self.origin is None:
                raise self.fail(f"relative name {text!r} with no origin (set $ORIGIN)")
            text = text + self.origin if self.origin == "." else f"{text}.{self.origin}"
        try:
            return normalize_name(text)
        except DNSError as exc:
            raise self.fail(str(exc)) from None

    def directive(self, tokens: list[Token], depth: int) -> None:
        word, args = tokens[0].text.upper(), tokens[1:]
        if word == "$ORIGIN" and len(args) == 1:
            origin = args[0]
            if self.origin is None and not _absolute(origin.text):
                raise self.fail(f"$ORIGIN {origin.text} is relative and no origin is set")
            self.origin = self.name(origin)
        elif word == "$TTL" and len(args) == 1:
            self.default_ttl = self.ttl(args[0].text)
        elif word == "$INCLUDE" and len(args) in (1, 2):
            self.include_file(args, depth)
        elif word in ("$ORIGIN", "$TTL", "$INCLUDE"):
            raise self.fail(f"{word} takes {'1 or 2 arguments' if word == '$INCLUDE' else '1'}")
        else:
            raise self.fail(f"unknown directive {tokens[0].text}")

    def include_file(self, args: list[Token], depth: int) -> None:
        if self.include is None:
            raise self.fail("$INCLUDE is not allowed here")
        if depth >= MAX_INCLUDE_DEPTH:
            raise self.fail(f"$INCLUDE nested over {MAX_INCLUDE_DEPTH} deep (a loop?)")
        origin = self.name(args[1]) if len(args) == 2 else self.origin
        try:
            text, filename = self.include(args[0].text, self.filename)
        except OSError as exc:
            raise self.fail(f"$INCLUDE {args[0].text}: {exc.strerror or exc}") from None
        child = _Parser(filename, origin, self.default_ttl, self.include)
        self.records += child.run(text, depth + 1)

    def ttl(self, text: str) -> int:
        try:
            return parse_ttl(text)
        except ValueError as exc:
            raise self.fail(str(exc)) from None

    def record(self, entry: Entry) -> None:
        tokens = entry.tokens
        if entry.blank_owner:
            if self.owner is None:
                raise self.fail("a record with a blank owner and no previous owner")
        else:
            self.owner = self.name(tokens[0])
            tokens = tokens[1:]
        ttl, rest = self.ttl_and_class(tokens)
        if not rest:
            raise self.fail("a record without its type")
        rtype = _TYPES.get(rest[0].text.upper())
        if rtype is None or rest[0].quoted:
            raise self.fail(f"unknown or unsupported record type {rest[0].text!r}")
        data = self.rdata(rtype, rest[1:])
        ttl = self.record_ttl(ttl, data)
        self.records.append(SourceRecord(Record(self.owner, ttl, data), self.filename, self.line))

    def ttl_and_class(self, tokens: list[Token]) -> tuple[int | None, list[Token]]:
        ttl: int | None = None
        seen_class = False
        while tokens and not tokens[0].quoted:
            word = tokens[0].text
            if word.upper() in _CLASSES and not seen_class:
                if word.upper() != "IN":
                    raise self.fail(f"class {word}: only class IN is served")
                seen_class = True
            elif word[:1].isdigit() and ttl is None:
                ttl = self.ttl(word)
            else:
                break
            tokens = tokens[1:]
        return ttl, tokens

    def record_ttl(self, ttl: int | None, data: Rdata) -> int:
        if ttl is None:
            ttl = self.default_ttl if self.default_ttl is not None else self.last_ttl
        if ttl is None and isinstance(data, SOA):
            ttl = data.minimum
        if ttl is None:
            raise self.fail("no TTL for this record (give one, or set $TTL)")
        if self.default_ttl is None:
            self.last_ttl = ttl
        return ttl

    def rdata(self, rtype: int, fields: list[Token]) -> Rdata:
        spec = _RDATA[rtype]
        if rtype != RecordType.TXT and len(fields) != len(spec[0].split()):
            got = " ".join(t.text for t in fields) or "nothing"
            raise self.fail(f"{_NAMES[rtype]} data is {spec[0]}, got {got!r}")
        try:
            return spec[1](self, fields)
        except (ValueError, DNSError) as exc:
            if isinstance(exc, ZoneFileError):
                raise
            raise self.fail(f"{_NAMES[rtype]} data: {exc}") from None

    def number(self, token: Token, what: str, bits: int = 16) -> int:
        if not token.text.isdigit() or int(token.text) >= 1 << bits:
            raise self.fail(f"{what} must be a number below {1 << bits}, got {token.text!r}")
        return int(token.text)


def _address(version: int, token: Token) -> str:
    ip = ipaddress.ip_address(token.text)
    if ip.version != version or "%" in token.text:
        raise ValueError(f"{token.text!r} is not an IPv{version} address")
    return str(ip)


def _txt(p: _Parser, fields: list[Token]) -> Rdata:
    if not fields:
        raise p.fail("TXT data needs one or more strings")
    strings = [text_bytes(t.text) for t in fields]
    for string in strings:
        if len(string) > 0xFF:
            raise p.fail(f"a TXT string of {len(string)} bytes (at most 255)")
    return TXT(strings)


def _soa(p: _Parser, f: list[Token]) -> Rdata:
    serial = p.number(f[2], "the SOA serial", 32)
    times = [p.ttl(t.text) for t in f[3:]]
    return SOA(p.name(f[0]), p.name(f[1]), serial, *times)


def _srv(p: _Parser, f: list[Token]) -> Rdata:
    priority = p.number(f[0], "the SRV priority")
    weight = p.number(f[1], "the SRV weight")
    return SRV(priority, weight, p.number(f[2], "the SRV port"), p.name(f[3]))


_RDATA: dict[int, tuple[str, Callable[[_Parser, list[Token]], Rdata]]] = {
    RecordType.A: ("address", lambda p, f: A(_address(4, f[0]))),
    RecordType.AAAA: ("address", lambda p, f: AAAA(_address(6, f[0]))),
    RecordType.NS: ("name", lambda p, f: NS(p.name(f[0]))),
    RecordType.CNAME: ("name", lambda p, f: CNAME(p.name(f[0]))),
    RecordType.PTR: ("name", lambda p, f: PTR(p.name(f[0]))),
    RecordType.MX: (
        "preference exchange",
        lambda p, f: MX(p.number(f[0], "the MX preference"), p.name(f[1])),
    ),
    RecordType.SRV: ("priority weight port target", _srv),
    RecordType.SOA: ("mname rname serial refresh retry expire minimum", _soa),
    RecordType.TXT: ("strings", _txt),
}
_NAMES = {rtype: RecordType(rtype).name for rtype in _RDATA}
_TYPES = {name: rtype for rtype, name in _NAMES.items()}
SUPPORTED_TYPES = tuple(sorted(_TYPES))
"""The record types a master file may hold here."""


def parse_zone(
    text: str,
    *,
    origin: str | None = None,
    filename: str = "<zone>",
    default_ttl: int | None = None,
    include: Include | None = None,
) -> list[SourceRecord]:
    """The records of master-file ``text``, in file order.

    ``origin`` is the starting ``$ORIGIN`` (None: relative names are an
    error until a ``$ORIGIN``), ``default_ttl`` the starting ``$TTL``.
    ``$INCLUDE`` is refused unless ``include`` can read files. Raises
    :class:`~evweb.errors.ZoneFileError` at the first fault.
    """
    start = None if origin is None else _start_origin(origin, filename)
    return _Parser(filename, start, default_ttl, include).run(text, 0)


def _start_origin(origin: str, filename: str) -> str:
    try:
        return normalize_name(origin)
    except DNSError as exc:
        raise ZoneFileError(filename, 0, f"origin: {exc}") from None


def _read_include(path: str, from_file: str) -> tuple[str, str]:
    full = os.path.join(os.path.dirname(from_file), path)
    with open(full, encoding="utf-8") as handle:
        return handle.read(), full


def load_zone_files(paths: list[str], origin: str | None = None) -> list[SourceRecord]:
    """Read and parse each file; hosts-format files are told apart by their first line.

    ``$INCLUDE`` paths are relative to the including file. Raises
    :class:`~evweb.errors.ZoneFileError`, also for a file that cannot be read
    (line 0) or is not UTF-8.
    """
    records: list[SourceRecord] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ZoneFileError(path, 0, f"cannot read the file: {reason}") from None
        if looks_like_hosts(text):
            records += parse_hosts(text, filename=path)
        else:
            records += parse_zone(text, origin=origin, filename=path, include=_read_include)
    return records
