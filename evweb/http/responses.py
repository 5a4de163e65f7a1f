"""Responses: what an App handler returns, each knowing how it goes on the wire.

A handler returns one of these, or a plain value the App turns into one
(:func:`to_response`): ``str`` is text/plain, ``bytes`` are
application/octet-stream, a ``dict`` or ``list`` is JSON, None means the
handler answered (or will answer) the request itself with the low-level
API. :meth:`Response.send` is the only place a response touches the
request, through the low-level API: :meth:`~evweb.http.Request.send_reply`
for bodies in memory, :meth:`~evweb.http.Request.send_file` (``os.sendfile``)
for files, ``start_reply`` / ``send_chunk`` / ``end_reply`` for streams.

Why it is shaped this way: a response is a small object with slots, built
by the handler and sent once, so the common case (a short text or JSON
body) costs one object, its encoded body and one ``send_reply``. A
:class:`StreamResponse` sends its next chunk from the previous chunk's
flushed callback, so a generator never runs ahead of the client: at most
one chunk waits in memory however slow the reader. :class:`Template` is
only a description (name and context): the App that handled the request
renders it with its jinja2 environment.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from evweb.errors import ConfigError
from evweb.http.headers import HeaderInput, Headers
from evweb.http.writer import reason_phrase

if TYPE_CHECKING:
    import jinja2

    from evweb.http.request import Request

log = logging.getLogger("evweb.http.app")

_LOCATION_SAFE = ":/?#[]@!$&'()*+,;=%~"  # reserved characters and '%' stay as given
_SAMESITE = ("lax", "strict", "none")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)  # FIFOs
_TEXTUAL = frozenset(  # textual types outside text/*: they get a charset too
    (
        "application/javascript",
        "application/json",
        "application/xml",
        "application/xhtml+xml",
        "image/svg+xml",
    )
)
_COMPRESSED = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}


class Response:
    """A status, a body in memory, header fields and a ``Content-Type``.

    ``content_type`` None leaves the choice to the server (its
    ``default_content_type``). Fields in ``headers`` are sent after any the
    handler put in ``request.response_headers``.
    """

    __slots__ = ("_headers", "body", "content_type", "status")

    media_type: ClassVar[str | None] = None
    """The ``Content-Type`` of this kind of response unless ``content_type`` is given."""

    def __init__(
        self,
        body: bytes | bytearray | memoryview | str = b"",
        status: int = 200,
        headers: HeaderInput | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        if type(body) is not bytes:
            body = body.encode() if isinstance(body, str) else bytes(body)
        self.body = body
        self.content_type = self.media_type if content_type is None else content_type
        self._headers = Headers(headers) if headers else None

    @property
    def headers(self) -> Headers:
        """Extra fields sent with the response (created on first use)."""
        if self._headers is None:
            self._headers = Headers()
        return self._headers

    def send(self, request: Request) -> None:
        """Answer ``request`` with this response (once)."""
        if self._headers is None:  # the common case: no Headers object at all
            request.send_reply(self.status, None, self.body, self.content_type)
            return
        self._apply_headers(request)
        request.send_reply(self.status, None, self.body)

    def _apply_headers(self, request: Request) -> None:
        own = self._headers
        content_type = self.content_type
        if own is None and content_type is None:
            return
        out = request.response_headers
        if own:
            out.extend(own.items())
        if content_type is not None and "content-type" not in out:
            out.add("Content-Type", content_type)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime.datetime | int | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Add a ``Set-Cookie`` field (see :func:`cookie_header` for the arguments)."""
        self.headers.add(
            "Set-Cookie",
            cookie_header(
                key,
                value,
                max_age=max_age,
                expires=expires,
                path=path,
                domain=domain,
                secure=secure,
                httponly=httponly,
                samesite=samesite,
            ),
        )

    def delete_cookie(
        self,
        key: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Tell the client to forget cookie ``key`` (same ``path`` and ``domain`` as it was set)."""
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.content_type!r} {len(self.body)} bytes>"


class TextResponse(Response):
    """``text/plain; charset=utf-8``."""

    __slots__ = ()
    media_type = "text/plain; charset=utf-8"


class HTMLResponse(Response):
    """``text/html; charset=utf-8``."""

    __slots__ = ()
    media_type = "text/html; charset=utf-8"


class JSONResponse(Response):
    """``content`` as compact JSON (UTF-8, no NaN), ``application/json``."""

    __slots__ = ()
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status: int = 200,
        headers: HeaderInput | None = None,
        content_type: str | None = None,
    ) -> None:
        body = json.dumps(content, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        super().__init__(body.encode(), status, headers, content_type)


class RedirectResponse(Response):
    """A redirect to ``url``: 307 (the default) keeps the method and body, 303 turns it into GET."""

    __slots__ = ()

    def __init__(self, url: str, status: int = 307, headers: HeaderInput | None = None) -> None:
        if not 300 <= status <= 399:
            raise ConfigError(f"a redirect status must be 3xx, got {status!r}")
        super().__init__(b"", status, headers)
        self.headers["Location"] = quote(url, safe=_LOCATION_SAFE)


class FileResponse(Response):
    """The file at ``path``, sent with ``os.sendfile``; 404 when it is not a regular file.

    ``Content-Type`` is guessed from the name (:mod:`mimetypes`); with
    ``filename`` the client is told to save it under that name
    (``Content-Disposition: attachment``). Conditional requests and ranges
    are the static-files handler's business (:mod:`evweb.http.static`).
    """

    __slots__ = ("path",)

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeaderInput | None = None,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> None:
        super().__init__(b"", status, headers, content_type or guess_type(str(path)))
        self.path = path
        if filename is not None:
            self.headers["Content-Disposition"] = _disposition(filename)

    def send(self, request: Request) -> None:
        """Open the file and hand it to ``request.send_file``, which owns the fd from then on."""
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            TextResponse("Not Found", 404).send(request)
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                TextResponse("Not Found", 404).send(request)
                return
            self._apply_headers(request)
        except BaseException:
            os.close(fd)
            raise
        request.send_file(fd, 0, st.st_size, status=self.status)


class StreamResponse(Response):
    """A body produced piece by piece by an iterable of ``bytes`` or ``str`` (a generator).

    HTTP/1.1 clients get chunked coding (unless a ``Content-Length`` is in
    ``headers``), HTTP/1.0 clients the raw bytes and a close. The next piece
    is taken only once the previous one has been handed to the kernel, so a
    slow client slows the generator down instead of filling memory. An
    exception in the generator drops the connection (the reply has
    started: there is no status left to send) and is logged by the server.
    """

    __slots__ = ("_iterator", "content")

    media_type = "application/octet-stream"

    def __init__(
        self,
        content: Iterable[bytes | str],
        status: int = 200,
        headers: HeaderInput | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(b"", status, headers, content_type)
        self.content = content
        self._iterator: Iterator[bytes | str] | None = None

    def send(self, request: Request) -> None:
        """Start the reply and send the first piece; the others follow as the client reads."""
        self._apply_headers(request)
        request.start_reply(self.status)
        if request.method == "HEAD":
            _close_iterable(self.content)
            request.end_reply()
            return
        self._iterator = iter(self.content)
        self._next(request)

    def _next(self, request: Request) -> None:
        iterator = self._iterator
        assert iterator is not None
        for piece in iterator:
            if piece:
                request.send_chunk(piece, self._next)
                return
        self._iterator = None
        request.end_reply()


def _close_iterable(content: object) -> None:
    close = getattr(content, "close", None)
    if callable(close):
        close()


class Template:
    """A jinja2 template to render with the context, by the App that handled the request.

    ``App(templates="dir")`` gives the environment (autoescaping on);
    ``app.render(name, **context)`` renders at once instead.
    """

    __slots__ = ("content_type", "context", "headers", "name", "status")

    def __init__(
        self,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: HeaderInput | None = None,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        self.name = name
        self.context = dict(context or {})
        self.status = status
        self.headers = headers
        self.content_type = content_type

    def render(self, environment: jinja2.Environment) -> Response:
        """The rendered page as a Response."""
        text = environment.get_template(self.name).render(self.context)
        return Response(text, self.status, self.headers, self.content_type)

    def __repr__(self) -> str:
        return f"<Template {self.name!r}>"


def to_response(value: object) -> Response | None:
    """The Response for what a handler returned (None stays None); TypeError for other values."""
    if value is None or isinstance(value, Response):
        return value
    if isinstance(value, str):
        return TextResponse(value)
    if isinstance(value, (dict, list)):
        return JSONResponse(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Response(value, content_type="application/octet-stream")
    raise TypeError(
        f"a handler returned a {type(value).__name__}; expected a Response, str, bytes, "
        "dict, list or None"
    )


def respond(request: Request, value: object) -> None:
    """Send what a handler would return: for answers given later (a timer, a body's end)."""
    response = to_response(value)
    if response is None:
        raise TypeError("respond() needs something to send, got None")
    response.send(request)


def error_response(
    status: int, detail: str | None = None, headers: HeaderInput | None = None
) -> Response:
    """The App's default answer for a status: the detail (or reason phrase) as text."""
    if status < 200 or status in (204, 304):
        return Response(b"", status, headers)
    return TextResponse(detail if detail is not None else reason_phrase(status), status, headers)


@functools.lru_cache(maxsize=1024)
def guess_type(name: str) -> str:
    """The ``Content-Type`` for a file called ``name`` (UTF-8 for text), else octet-stream.

    A compressed file (``x.tar.gz``) is what it is (``application/gzip``):
    it is sent as stored, never with ``Content-Encoding``.
    """
    import mimetypes  # here: only files need it, and it reads the system's tables

    kind, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _COMPRESSED.get(encoding, "application/octet-stream")
    if kind is None:
        return "application/octet-stream"
    if kind.startswith("text/") or kind in _TEXTUAL:
        return kind + "; charset=utf-8"
    return kind


def _disposition(filename: str) -> str:
    if filename.isascii() and filename.isprintable() and not any(c in filename for c in '"\\'):
        return f'attachment; filename="{filename}"'
    return f"attachment; filename*=utf-8''{quote(filename, safe='')}"


def cookie_header(
    key: str,
    value: str = "",
    *,
    max_age: int | None = None,
    expires: datetime.datetime | int | str | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = "lax",
) -> str:
    """The value of a ``Set-Cookie`` field.

    ``expires`` is a datetime, seconds from now, or a ready-made date;
    ``samesite`` is ``lax``, ``strict``, ``none`` (which needs ``secure``)
    or None to leave it out. ConfigError for an invalid name or SameSite.
    Use it with the low-level API as
    ``request.response_headers.add("Set-Cookie", cookie_header(...))``.
    """
    import email.utils  # here: most apps never set a cookie
    import http.cookies

    cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    try:
        cookie[key] = value
    except http.cookies.CookieError as exc:
        raise ConfigError(f"invalid cookie name {key!r}: {exc}") from None
    morsel = cookie[key]
    if max_age is not None:
        morsel["max-age"] = str(int(max_age))
    if isinstance(expires, datetime.datetime):
        morsel["expires"] = email.utils.format_datetime(
            expires.astimezone(datetime.timezone.utc), usegmt=True
        )
    elif expires is not None:
        morsel["expires"] = expires
    if path is not None:
        morsel["path"] = path
    if domain is not None:
        morsel["domain"] = domain
    if secure:
        morsel["secure"] = True
    if httponly:
        morsel["httponly"] = True
    if samesite is not None:
        if samesite.lower() not in _SAMESITE:
            raise ConfigError(f"samesite must be one of {_SAMESITE!r} or None, got {samesite!r}")
        morsel["samesite"] = samesite.capitalize()
    return morsel.OutputString()
