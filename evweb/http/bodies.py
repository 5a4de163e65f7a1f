"""Reading what a request carries: cookies, forms, JSON.

Functions of a :class:`~evweb.http.Request` rather than methods, so the
server's Request stays small and pays nothing for what a handler does not
use::

    from evweb.http.bodies import cookies, form, json_body

    @app.post("/login")
    def login(request):
        fields = form(request)            # MultiDict; 415 unless a form was sent
        ...

A form or JSON body is parsed once per request (the result is kept in
``request.state``). Wrong ``Content-Type`` is 415, a body that does not
parse is 400, both as :class:`~evweb.errors.HTTPException`, so the App
answers them. ``multipart/form-data`` is parsed whole, in memory (the
body is already there, within the route's ``max_body_size``): text fields
go to the form, files to :attr:`FormData.files`. A route with
``stream=True`` reads its body with :meth:`~evweb.http.Request.read_body`
instead; these functions refuse it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from evweb.errors import ConfigError, HTTPException
from evweb.http.multidict import MultiDict

if TYPE_CHECKING:
    from evweb.http.request import Request

_FORM_KEY = "evweb.form"
_JSON_KEY = "evweb.json"
_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))")
_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


@dataclass(frozen=True)
class UploadFile:
    """A file sent in a ``multipart/form-data`` form."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        """Length of the data in bytes."""
        return len(self.data)


class FormData(MultiDict):
    """The text fields of a form (a :class:`~evweb.http.MultiDict`) and its ``files``."""

    __slots__ = ("files",)

    def __init__(self, items: Any = (), files: list[tuple[str, UploadFile]] | None = None) -> None:
        super().__init__(items)
        self.files: list[tuple[str, UploadFile]] = files or []
        """(field name, UploadFile) pairs in order."""

    def file(self, name: str) -> UploadFile | None:
        """The last file sent as ``name``, or None."""
        for key, upload in reversed(self.files):
            if key == name:
                return upload
        return None


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """The request's ``Content-Type`` as (lower-case type, parameters); ('', {}) when absent."""
    raw = request.headers.get("content-type")
    if not raw:
        return "", {}
    msg = Message()
    msg["content-type"] = raw
    params = {k.lower(): str(v) for k, v in msg.get_params(failobj=[])[1:]}
    return msg.get_content_type() if "/" in raw else raw.strip().lower(), params


def cookies(request: Request) -> dict[str, str]:
    """The cookies the client sent (every ``Cookie`` field), leniently parsed.

    Like browsers and unlike :class:`http.cookies.SimpleCookie`, a malformed
    pair does not hide the others; quoted values are unquoted.
    """
    fields = request.headers.get_all("cookie")
    if not fields:
        return {}
    out: dict[str, str] = {}
    for field in fields:
        for pair in field.split(";"):
            key, sep, value = pair.partition("=")
            if not sep:
                key, value = "", key
            key, value = key.strip(), value.strip()
            if key or value:
                out[key] = _unquote(value)
    return out


def _unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _ESCAPE.sub(lambda m: chr(int(m[1], 8)) if m[1] else m[2], value[1:-1])


def form(request: Request) -> FormData:
    """The form the client sent: urlencoded or multipart; 415 for anything else, 400 if broken."""
    state = request.state
    cached = state.get(_FORM_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    _check_whole(request, "form")
    kind, params = media_type(request)
    if kind == _URLENCODED:
        text = request.body.decode("utf-8", "replace")
        result = FormData(parse_qsl(text, keep_blank_values=True, errors="replace"))
    elif kind == _MULTIPART:
        result = _multipart(request, params)
    else:
        raise HTTPException(415, f"expected a form ({_URLENCODED} or {_MULTIPART})")
    state[_FORM_KEY] = result
    return result


def _multipart(request: Request, params: dict[str, str]) -> FormData:
    if not params.get("boundary"):
        raise HTTPException(400, "multipart/form-data without a boundary")
    head = b"Content-Type: " + request.headers["content-type"].encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    if not message.is_multipart() or message.defects:
        raise HTTPException(400, "malformed multipart/form-data body")
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, UploadFile]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_content_disposition() != "form-data":
            raise HTTPException(400, "a multipart part without a form-data name")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append((name, UploadFile(filename, part.get_content_type(), data)))
        else:
            fields.append((name, _decode(data, part.get_content_charset())))
    return FormData(fields, files)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:  # an unknown charset
        return data.decode("utf-8", "replace")


def json_body(request: Request) -> Any:
    """The body parsed as JSON; 415 unless ``Content-Type`` is JSON, 400 if it does not parse."""
    state = request.state
    if _JSON_KEY in state:
        return state[_JSON_KEY]
    _check_whole(request, "json_body")
    kind, _ = media_type(request)
    if kind != "application/json" and not (
        kind.startswith("application/") and kind[-5:] == "+json"
    ):
        raise HTTPException(415, "expected Content-Type: application/json")
    try:
        value = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"invalid JSON: {exc}") from None
    state[_JSON_KEY] = value
    return value


def _check_whole(request: Request, what: str) -> None:
    if request.streaming:
        raise ConfigError(f"{what}() needs the whole body; this route streams it (stream=True)")
