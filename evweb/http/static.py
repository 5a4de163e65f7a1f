"""StaticFiles: a handler serving a directory tree, with os.sendfile, validators and ranges.

``server.set_gencb(StaticFiles("public"))`` serves ``public/`` at ``/``;
mounted under a prefix by the web-framework layer, it serves
``request.path[len(request.root_path):]``. GET and HEAD only (anything else
is 405 with ``Allow: GET, HEAD``).

Why it is shaped this way (each decision is one a reviewer should be able to
check against the code below):

* **Nothing outside the root.** The decoded path (:attr:`Request.path`, so a
  ``%2e%2e`` is already ``..``) is split on ``/``; a ``.`` or ``..``
  segment, a backslash, NUL or any other control character is 400 (a
  browser never sends them: it removes dot segments before asking). The
  file is then found by ``os.path.realpath`` and must lie inside the
  resolved root. Without ``follow_symlinks`` *any* symbolic link on the way
  is 404; with it a link is followed only while its target stays inside the
  root. The file is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO cannot
  hang the loop) and, where ``/proc/self/fd`` exists, the path the kernel
  actually opened is checked again, so swapping a directory for a link
  between the check and the open gains nothing. Only regular files and
  directories are served; devices, FIFOs and sockets are 404.
* **Hidden files** (a segment starting with ``.``: ``.git``, ``.env``) are
  404 and left out of listings unless ``show_hidden=True``.
* **Errors**: a missing file is 404, an unreadable one 403. Error pages are
  small HTML bodies sent with :meth:`Request.send_reply`, so the
  connection stays open (``send_error`` would close it).
* **Validators**: ``ETag`` is ``"<mtime_ns hex>-<size hex>"`` (a strong
  validator: it changes whenever the file is rewritten in place) and
  ``Last-Modified`` the mtime. Preconditions are evaluated in RFC 9110
  §13.2.2's order: If-Match, If-Unmodified-Since (412), If-None-Match
  (weak comparison), If-Modified-Since (304 for GET/HEAD), then If-Range.
* **Ranges** (GET only, RFC 9110 §14): one ``bytes=`` range gives 206 with
  ``Content-Range``; a range starting past the end, ``bytes=-0``, a last
  position before the first, or any range of an empty file gives 416 with
  ``Content-Range: bytes */size``. Several ranges are answered 200 with the
  whole file (ignoring ``Range`` is always allowed; multipart/byteranges is
  not worth its weight here). An unknown unit or unparsable value is
  ignored (200).
* **Directories**: ``/dir`` redirects (301) to ``/dir/``; ``/dir/`` serves
  ``index`` when it is a regular file, else an HTML listing (jinja2,
  autoescaped, names percent-encoded in hrefs) when ``listing`` is on,
  else 404. A listing reads at most ``max_listing`` entries (10,000 by
  default: tens of milliseconds of ``stat`` and rendering) and says so when
  it stopped early; which entries are shown is then the directory's order.
* **Bodies** go out with ``os.sendfile`` through :meth:`Request.send_file`.
  Over TLS, where sendfile cannot encrypt, the file is read with ``pread``
  in 256 KiB pieces, the next once the last has left (never mapped: a file
  shrinking under a map is SIGBUS for the whole process). A file that
  changes while it is being sent ends the reply short, and the connection
  closes rather than mixing two versions or spinning.
* **MIME types** come from :mod:`mimetypes`; ``text/*`` (and a few textual
  application types) get ``; charset=utf-8``; unknown is
  ``application/octet-stream``. A compressed file (``x.tar.gz``) is sent
  as what it is (``application/gzip``), never with ``Content-Encoding``.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

import jinja2

from evweb.errors import ConfigError
from evweb.http.responses import guess_type as content_type
from evweb.http.writer import http_date, reason_phrase

if TYPE_CHECKING:
    from evweb.http.request import Request

__all__ = ["StaticFiles", "content_type"]

_METHODS = ("GET", "HEAD")
_ALLOW = "GET, HEAD"
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_PROC_FD = "/proc/self/fd"
_HAS_PROC = os.path.isdir(_PROC_FD)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_RANGE = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_ETAG = re.compile(r'(W/)?"([^"]*)"')
_HUGE = 1 << 63
_TLS_PIECE = 256 * 1024  # bytes read per piece of a file sent over TLS
_LISTING = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Index of {{ path }}</title>
<style>body{font-family:sans-serif}td{padding:0 1em 0 0}td.size{text-align:right}</style>
</head><body>
<h1>Index of {{ path }}</h1>
<table>
<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>
{%- if parent %}
<tr><td><a href="../">../</a></td><td></td><td></td></tr>
{%- endif %}
{%- for e in entries %}
<tr><td><a href="{{ e.href }}">{{ e.name }}</a></td><td>{{ e.modified }}</td>\
<td class="size">{{ e.size }}</td></tr>
{%- endfor %}
</table>
{%- if truncated %}
<p>Only the first {{ limit }} entries are shown.</p>
{%- endif %}
</body></html>
"""


@functools.lru_cache(maxsize=1)
def _listing_template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_LISTING)


class _RefusedError(Exception):
    """A request the files cannot answer: carries the status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Entry(NamedTuple):
    href: str
    name: str
    modified: str
    size: str
    is_dir: bool


class StaticFiles:
    """Serve the files under ``root`` (a handler: ``StaticFiles(root)(request)``).

    ``listing`` renders directories without ``index``; ``follow_symlinks``
    follows links whose target stays inside the root (others are 404 either
    way); ``show_hidden`` serves dot-files; ``max_listing`` caps the entries
    a listing reads. See the module docstring for the exact rules.
    """

    __slots__ = ("follow_symlinks", "index", "listing", "max_listing", "root", "show_hidden")

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        listing: bool = True,
        index: str | None = "index.html",
        follow_symlinks: bool = False,
        show_hidden: bool = False,
        max_listing: int = 10_000,
    ) -> None:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            raise ConfigError(f"static root {os.fspath(root)!r} is not a directory")
        if index is not None and (not index or "/" in index or index in (".", "..")):
            raise ConfigError(f"index must be a plain file name, got {index!r}")
        if max_listing < 1:
            raise ConfigError(f"max_listing must be >= 1, got {max_listing!r}")
        self.root = real
        """The resolved root directory."""
        self.listing = listing
        self.index = index
        self.follow_symlinks = follow_symlinks
        self.show_hidden = show_hidden
        self.max_listing = max_listing

    def __repr__(self) -> str:
        return f"StaticFiles({self.root!r}, listing={self.listing})"

    # -- the handler -------------------------------------------------------------------
    def __call__(self, request: Request) -> None:
        """Answer ``request`` with a file, a listing, a redirect or an error page."""
        if request.method not in _METHODS:
            request.response_headers["Allow"] = _ALLOW
            _send_page(request, 405)
            return
        try:
            names, slash = self._names(request)
            fd, st, path = self._open(names)
        except _RefusedError as refused:
            _send_page(request, refused.status)
            return
        if stat.S_ISDIR(st.st_mode):
            self._directory(request, fd, path, names, slash)
        elif slash:
            os.close(fd)
            _send_page(request, 404)
        else:
            _send_file(request, fd, st, path)

    # -- from the URL to a file ----------------------------------------------------------
    def _names(self, request: Request) -> tuple[list[str], bool]:
        """The path's segments below the root, and whether it ended with a slash."""
        path, prefix = request.path, request.root_path
        if not path.startswith(prefix) or not path.startswith("/"):
            raise _RefusedError(404 if path.startswith("/") else 400)
        sub = path[len(prefix) :]
        if _CONTROL.search(sub):
            raise _RefusedError(400)
        names = []
        for name in sub.split("/"):
            if not name:
                continue
            if name in (".", ".."):
                raise _RefusedError(400)
            if name[0] == "." and not self.show_hidden:
                raise _RefusedError(404)
            names.append(name)
        return names, sub.endswith("/")

    def _open(self, names: list[str]) -> tuple[int, os.stat_result, str]:
        """Open the file ``names`` lead to, checking containment; _RefusedError otherwise."""
        wanted = os.path.join(self.root, *names) if names else self.root
        real = os.path.realpath(wanted)
        if real != wanted and not self._may_follow(real):
            raise _RefusedError(404)
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except PermissionError as exc:
            raise _RefusedError(403) from exc
        except OSError as exc:  # ENOENT, ENOTDIR, ELOOP (a link raced in), ENAMETOOLONG...
            raise _RefusedError(404) from exc
        try:
            st = os.fstat(fd)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise _RefusedError(404)
            if _HAS_PROC and os.readlink(f"{_PROC_FD}/{fd}") != real:
                raise _RefusedError(404)  # the path changed under us between the check and the open
        except BaseException:
            os.close(fd)
            raise
        return fd, st, real

    def _may_follow(self, real: str) -> bool:
        """Whether links may lead to ``real``: followed, inside the root, not hidden there."""
        if not self.follow_symlinks or not self._inside(real):
            return False
        below = real[len(self.root) :].split("/")
        return self.show_hidden or not any(name.startswith(".") for name in below)

    def _inside(self, path: str) -> bool:
        root = self.root
        return path == root or path.startswith(root if root.endswith("/") else root + "/")

    # -- directories -------------------------------------------------------------------
    def _directory(
        self, request: Request, fd: int, path: str, names: list[str], slash: bool
    ) -> None:
        if not slash:
            os.close(fd)
            _redirect_to_slash(request)
            return
        try:
            if self.index is not None:
                found = self._index_file(names)
                if found is not None:
                    _send_file(request, *found)
                    return
            if not self.listing:
                _send_page(request, 404)
                return
            body = self._render_listing(request, fd, path, bool(names))
        finally:
            os.close(fd)
        request.response_headers["Content-Type"] = "text/html; charset=utf-8"
        request.response_headers["Cache-Control"] = "no-cache"
        request.send_reply(200, None, body)

    def _index_file(self, names: list[str]) -> tuple[int, os.stat_result, str] | None:
        assert self.index is not None
        try:
            fd, st, path = self._open([*names, self.index])
        except _RefusedError:
            return None
        if stat.S_ISREG(st.st_mode):
            return fd, st, path
        os.close(fd)
        return None

    def _render_listing(self, request: Request, fd: int, path: str, parent: bool) -> bytes:
        entries, truncated = self._entries(fd, path)
        entries.sort(key=lambda e: (not e.is_dir, e.name))
        return (
            _listing_template()
            .render(
                path=_displayable(request.path),
                parent=parent,
                entries=entries,
                truncated=truncated,
                limit=f"{self.max_listing:,}",
            )
            .encode()
        )

    def _entries(self, fd: int, path: str) -> tuple[list[_Entry], bool]:
        """At most ``max_listing`` entries of the open directory ``fd`` (at ``path``)."""
        out: list[_Entry] = []
        read = 0
        with os.scandir(fd) as it:
            for entry in it:
                read += 1
                if read > self.max_listing:
                    return out, True
                item = self._entry(entry, path)
                if item is not None:
                    out.append(item)
        return out, False

    def _entry(self, entry: os.DirEntry[str], path: str) -> _Entry | None:
        name = entry.name
        if name[0] == "." and not self.show_hidden:
            return None
        try:
            if entry.is_symlink() and not self._may_follow(
                os.path.realpath(os.path.join(path, name))
            ):
                return None
            st = entry.stat()
        except OSError:
            return None
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and not stat.S_ISREG(st.st_mode):
            return None
        href = quote(os.fsencode(name), safe="") + ("/" if is_dir else "")
        modified = time.strftime("%Y-%m-%d %H:%M", time.gmtime(st.st_mtime))
        size = "-" if is_dir else _human(st.st_size)
        return _Entry(href, _displayable(name) + ("/" if is_dir else ""), modified, size, is_dir)


# -- replies ---------------------------------------------------------------------------


def _send_file(request: Request, fd: int, st: os.stat_result, path: str) -> None:
    """Answer with the open regular file ``fd`` at ``path`` (owned: closed once sent)."""
    size = st.st_size
    mtime = int(st.st_mtime)
    etag = f'"{st.st_mtime_ns:x}-{size:x}"'
    headers = request.response_headers
    headers["ETag"] = etag
    headers["Last-Modified"] = http_date(mtime)
    headers["Accept-Ranges"] = "bytes"
    status = _preconditions(request, etag, mtime)
    if status:
        os.close(fd)
        if status == 304:
            request.send_reply(304)
        else:
            _send_page(request, status)
        return
    headers["Content-Type"] = content_type(os.path.basename(path))
    wanted = _wanted_range(request, etag, mtime, size)
    if wanted is None:
        _deliver(request, fd, st, path, 0, size, 200)
    elif wanted is _UNSATISFIABLE:
        os.close(fd)
        del headers["Content-Type"]
        headers["Content-Range"] = f"bytes */{size}"
        _send_page(request, 416)
    else:
        start, end = wanted
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        _deliver(request, fd, st, path, start, end - start + 1, 206)


def _deliver(
    request: Request, fd: int, st: os.stat_result, path: str, offset: int, length: int, status: int
) -> None:
    """The body: os.sendfile on plain connections, pread pieces over TLS."""
    if request.is_tls:
        os.close(fd)
        _TLSFileStream(path, st, offset, length).start(request, status)
    else:
        request.send_file(fd, offset, length, status=status)


class _TLSFileStream:
    """A file range over TLS, read with pread one piece at a time, each once the last has left.

    sendfile cannot encrypt, and a mapped file that shrinks under the map
    kills the process with SIGBUS, so the bytes are read. The file is opened
    again for each piece, so no fd waits on a client that may vanish, and it
    must still be the same file (device, inode, mtime, size): otherwise the
    reply stops short and the server closes the connection, as the
    Content-Length was not met.
    """

    __slots__ = ("identity", "left", "offset", "path")

    def __init__(self, path: str, st: os.stat_result, offset: int, length: int) -> None:
        self.path = path
        self.identity = _identity(st)
        self.offset = offset
        self.left = length

    def start(self, request: Request, status: int) -> None:
        request.response_headers["Content-Length"] = str(self.left)
        request.start_reply(status)
        self.next(request)

    def next(self, request: Request) -> None:
        data = self._read() if self.left and request.method != "HEAD" else b""
        if not data:
            request.end_reply()
            return
        self.offset += len(data)
        self.left -= len(data)
        request.send_chunk(data, self.next)

    def _read(self) -> bytes:
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError:
            return b""
        try:
            if _identity(os.fstat(fd)) != self.identity:
                return b""
            return os.pread(fd, min(self.left, _TLS_PIECE), self.offset)
        finally:
            os.close(fd)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def _send_page(request: Request, status: int) -> None:
    """A small HTML page for ``status``; the connection stays open."""
    title = f"{status} {reason_phrase(status)}"
    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    request.response_headers["Content-Type"] = "text/html; charset=utf-8"
    request.send_reply(status, None, body)


def _redirect_to_slash(request: Request) -> None:
    """301 to the same path with a slash (``//evil.example`` cannot become a host)."""
    location = "/" + request.raw_path.lstrip("/") + "/"
    if request.query_string:
        location += "?" + request.query_string
    request.response_headers["Location"] = location
    _send_page(request, 301)


# -- validators and ranges ---------------------------------------------------------------


def _preconditions(request: Request, etag: str, mtime: int) -> int:
    """0 to go on, 304 or 412 (RFC 9110 §13.2.2, in its order)."""
    headers = request.headers
    if_match = headers.get_all("if-match")
    if if_match:
        if not _etag_matches(", ".join(if_match), etag, weak=False):
            return 412
    else:
        since = _parse_date(headers.get("if-unmodified-since"))
        if since is not None and mtime > since:
            return 412
    if_none_match = headers.get_all("if-none-match")
    if if_none_match:
        if _etag_matches(", ".join(if_none_match), etag, weak=True):
            return 304
    else:
        since = _parse_date(headers.get("if-modified-since"))
        if since is not None and mtime <= since:
            return 304
    return 0


def _etag_matches(field: str, etag: str, *, weak: bool) -> bool:
    if field.strip() == "*":
        return True
    opaque = etag[1:-1]
    return any(tag == opaque and (weak or not w) for w, tag in _ETAG.findall(field))


def _parse_date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


_UNSATISFIABLE = (-1, -1)


def _wanted_range(request: Request, etag: str, mtime: int, size: int) -> tuple[int, int] | None:
    """The (first, last) byte asked for, None for the whole file, or _UNSATISFIABLE."""
    if request.method != "GET":
        return None
    value = request.headers.get("range")
    if value is None:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and not _if_range_holds(if_range.strip(), etag, mtime):
        return None
    return parse_range(value, size)


def _if_range_holds(value: str, etag: str, mtime: int) -> bool:
    if value.startswith(('"', "W/")):
        return value == etag  # a strong comparison: a weak tag never matches
    return _parse_date(value) == mtime


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``Range: bytes=...`` against a file of ``size`` bytes (see the module docstring)."""
    unit, eq, spec = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in spec.split(",") if s.strip()]
    if len(specs) != 1:
        return None
    match = _RANGE.fullmatch(specs[0])
    if match is None or match.group(0) == "-":
        return None
    first_text, last_text = match.groups()
    if not first_text:  # bytes=-N: the last N bytes
        suffix = _number(last_text)
        if suffix == 0 or size == 0:
            return _UNSATISFIABLE
        return max(0, size - suffix), size - 1
    first = _number(first_text)
    last = _number(last_text) if last_text else size - 1
    if last < first or first >= size:
        return _UNSATISFIABLE
    return first, min(last, size - 1)


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


# -- text helpers ------------------------------------------------------------------------


def _displayable(name: str) -> str:
    """``name`` with undecodable bytes (kept as surrogates) shown as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _human(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
