"""``evweb fetch URL``: one HTTP request from the command line, the way curl makes it.

The body goes to stdout (or ``-o FILE``) piece by piece as it arrives,
through the Client's ``on_chunk``: a download of any size holds one piece
in memory. An upload from ``--data-file`` (or ``-d @FILE``) is handed to
the Client as an open file, which it streams the same way.

Why it is shaped this way:

* Everything that can end the command early (a file that cannot be read
  or written, ``--max-time``) records an exit status and message and
  cancels the request; the outcome is decided once, after the loop.
* With ``-L`` the Client calls ``on_head``/``on_chunk`` for the final
  response only; its ``history`` holds the redirects followed, whose heads
  are printed first with ``-i``, as curl does.
* The progress line is for a person watching a slow download: only on a
  terminal, not when the body itself is going to that terminal, not
  before a second has passed, and erased at the end.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TextIO

from evweb.errors import (
    ConfigError,
    ConnectError,
    EvwebError,
    InvalidURIError,
    ProtocolError,
    ServerDisconnectedError,
    TooManyRedirectsError,
)

if TYPE_CHECKING:
    from evweb.http import Client, ClientResponse, ResponseFuture
    from evweb.reactor import Event, EventBase

OK = 0
HTTP_ERROR = 1
USAGE = 2
CONNECT_FAILED = 3
TIMED_OUT = 4
BAD_RESPONSE = 5
FILE_ERROR = 6

EXIT_STATUSES = """\
exit status:
  0  the response arrived, status below 400
  1  the response arrived, status 400 or above (its body is still written)
  2  usage: a bad option, URL, header or proxy
  3  no connection: refused, unreachable, name not found, TLS or certificate failure
  4  timed out: --timeout (connect, or silence while sending or receiving) or --max-time
  5  the server broke the protocol: a malformed answer, closed early, bad or too many redirects
  6  a local file could not be read (-d @FILE, --data-file) or written (-o)
"""

_FORM = "application/x-www-form-urlencoded"


class _FetchError(Exception):
    """Ends the command before the request is made: an exit status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- the command line -----------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """Register ``fetch`` on the ``evweb`` subcommands."""
    fetch = commands.add_parser(
        "fetch",
        help="make one HTTP request and print the body: evweb fetch URL",
        description="Make one HTTP request and write the body to stdout (or -o FILE)"
        " as it arrives. The options are curl's.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("url", metavar="URL", help="http:// or https:// URL")
    fetch.add_argument("-X", "--request", dest="method", type=_method, help="method (GET)")
    fetch.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        type=_header,
        metavar="'NAME: VALUE'",
        help="send this header field (repeatable; replaces a default one)",
    )
    body = fetch.add_mutually_exclusive_group()
    body.add_argument(
        "-d",
        "--data",
        action="append",
        metavar="DATA",
        help="send DATA as the body, by POST unless -X says otherwise, as"
        f" {_FORM} unless -H sets Content-Type; repeated: joined with '&';"
        " @FILE streams FILE as it is (@- stdin)",
    )
    body.add_argument(
        "--data-file", metavar="FILE", help="stream FILE as the body (- for stdin), by POST"
    )
    body.add_argument("-I", "--head", action="store_true", help="HEAD request; print the head")
    fetch.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE (- stdout)")
    fetch.add_argument(
        "-i", "--include", action="store_true", help="write the status line and headers first"
    )
    fetch.add_argument("-L", "--location", action="store_true", help="follow redirects")
    fetch.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        help="seconds to connect, and the longest silence while sending or receiving"
        " (defaults: 45 to connect, 50 otherwise)",
    )
    fetch.add_argument(
        "-m", "--max-time", type=_seconds, metavar="S", help="seconds the whole request may take"
    )
    fetch.add_argument("-k", "--insecure", action="store_true", help="accept any TLS certificate")
    fetch.add_argument("--proxy", metavar="URL", help="HTTP proxy, http://host:port")
    fetch.add_argument(
        "-s", "--silent", action="store_true", help="no progress line and no error message"
    )


def _method(text: str) -> str:
    from evweb.http.headers import is_token

    if not is_token(text):
        raise argparse.ArgumentTypeError(f"not a method name: {text!r}")
    return text.upper()


def _header(text: str) -> tuple[str, str]:
    from evweb.http.headers import check_field

    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip(" \t")
    if not colon or not name:
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    try:
        check_field(name, value)
    except ProtocolError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name, value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def run(
    args: argparse.Namespace,
    *,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``evweb fetch`` with parsed ``args``; returns the exit status."""
    return Fetch(
        args,
        stdin if stdin is not None else sys.stdin.buffer,
        stdout if stdout is not None else sys.stdout.buffer,
        stderr if stderr is not None else sys.stderr,
    ).run()


def exit_status(error: BaseException) -> int:
    """The exit status for a request that ended with ``error``."""
    if isinstance(error, TimeoutError):  # connect, read, write and pool timeouts
        return TIMED_OUT
    if isinstance(error, ConnectError):  # refused, DNS, TLS, certificate, proxy
        return CONNECT_FAILED
    if isinstance(
        error, (ProtocolError, ServerDisconnectedError, TooManyRedirectsError, InvalidURIError)
    ):
        return BAD_RESPONSE  # an InvalidURIError here is a redirect's Location
    if isinstance(error, (OSError, ValueError)) and not isinstance(error, EvwebError):
        return FILE_ERROR  # reading the upload failed, or the file changed size
    return HTTP_ERROR


# -- one request ------------------------------------------------------------------------------


class Fetch:
    """One ``evweb fetch``: the request, where its body goes, and how it ended."""

    def __init__(
        self, args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO, stderr: TextIO
    ) -> None:
        self.args = args
        self.url: str = args.url
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.method: str = args.method or ("HEAD" if args.head else "GET")
        self.upload: IO[bytes] | None = None  # a file we opened
        self.out: BinaryIO | None = None
        self.response: ClientResponse | None = None  # the final head, whose body we write
        self.failure: tuple[int, str] | None = None  # set by callbacks that cancel
        self.future: ResponseFuture | None = None
        self.progress: Progress | None = None
        self.started = time.monotonic()

    def run(self) -> int:
        """Make the request, write the answer; the exit status."""
        from evweb.reactor import EventBase

        base = EventBase()
        try:
            return self._run(base)
        except _FetchError as stop:
            return self._report(stop.status, stop.message)
        finally:
            if self.upload is not None:
                self.upload.close()
            base.close()

    def _run(self, base: EventBase) -> int:
        from evweb.reactor import ONCE

        headers, body = self._request_body()
        client = self._client(base)
        try:
            future = self._send(client, headers, body)
            timers = self._timers(base)
            try:
                while not future.done():
                    if base.loop(ONCE) == 1 and not future.done():
                        future.cancel()  # nothing left that could complete it (a bug)
            finally:
                for timer in timers:
                    timer.delete()
                if self.progress is not None:
                    self.progress.finish()
        finally:
            client.close()
            self._close_output()
        return self._outcome(future)

    def _request_body(self) -> tuple[list[tuple[str, str]], Any]:
        args = self.args
        headers: list[tuple[str, str]] = list(args.headers)
        given = {name.lower() for name, _ in headers}
        body: Any = None
        if args.data is not None:
            files = [d for d in args.data if d.startswith("@")]
            if files and len(args.data) > 1:
                raise _FetchError(USAGE, "-d @FILE cannot be combined with other -d")
            body = self._open_upload(files[0][1:]) if files else b"&".join(map(_bytes, args.data))
            if "content-type" not in given:
                headers.append(("Content-Type", _FORM))
        elif args.data_file is not None:
            body = self._open_upload(args.data_file)
        if body is not None and args.method is None:
            self.method = "POST"
        return headers, body

    def _open_upload(self, path: str) -> BinaryIO:
        if path == "-":
            return self.stdin
        try:
            self.upload = open(path, "rb")  # noqa: SIM115 - closed by run()
        except OSError as exc:
            raise _FetchError(FILE_ERROR, f"cannot read {path}: {exc.strerror or exc}") from None
        return self.upload

    def _client(self, base: EventBase) -> Client:
        from evweb.http import Client, Timeouts

        args = self.args
        try:
            return Client(
                base,
                timeouts=Timeouts.all(args.timeout) if args.timeout else None,
                follow_redirects=args.location,
                proxy=args.proxy,
                verify=not args.insecure,
            )
        except ConfigError as exc:
            raise _FetchError(USAGE, str(exc)) from None

    def _send(self, client: Client, headers: list[tuple[str, str]], body: Any) -> ResponseFuture:
        try:
            self.future = client.request(
                self.method,
                self.url,
                headers=headers,
                body=body,
                on_head=self._on_head,
                on_chunk=self._on_chunk,
            )
        except (InvalidURIError, ConfigError) as exc:
            raise _FetchError(USAGE, str(exc)) from None
        return self.future

    def _timers(self, base: EventBase) -> list[Event]:
        timers = []
        if self.args.max_time is not None:
            limit = self.args.max_time

            def expire(fd: int, what: int, arg: Any) -> None:
                self._fail(TIMED_OUT, f"no complete answer within {limit:g} s (--max-time)")

            timers.append(base.timer(expire))
            timers[-1].add(limit)
        if self._wants_progress():

            def tick(fd: int, what: int, arg: Any) -> None:
                if self.progress is not None:
                    self.progress.update()

            timers.append(base.timer(tick, persist=True))
            timers[-1].add(Progress.INTERVAL)
        return timers

    def _wants_progress(self) -> bool:
        to_stdout = self.args.output in (None, "-")
        return (
            not self.args.silent
            and _isatty(self.stderr)
            and not (to_stdout and _isatty(self.stdout))
        )

    # -- the response, as it arrives ------------------------------------------------------------

    def _on_head(self, response: ClientResponse) -> object:
        if self.out is None and not self._open_output():
            return False  # cancels the request
        if self.args.include or self.args.head:
            for earlier in response.history:
                self._write(_head_bytes(earlier))
            self._write(_head_bytes(response))
        self.response = response
        if self._wants_progress():
            self.progress = Progress(self.stderr, _content_length(response), self.started)
        return None

    def _on_chunk(self, response: ClientResponse, data: bytes) -> None:
        self._write(data)
        if self.progress is not None:
            self.progress.received += len(data)

    def _open_output(self) -> bool:
        path = self.args.output
        if path is None or path == "-":
            self.out = self.stdout
            return True
        try:
            self.out = open(path, "wb")  # noqa: SIM115 - closed by _close_output()
        except OSError as exc:
            self._fail(FILE_ERROR, f"cannot write {path}: {exc.strerror or exc}")
            return False
        return True

    def _write(self, data: bytes) -> None:
        out = self.out
        if out is None or self.failure is not None:
            return
        try:
            out.write(data)
            if out is self.stdout:
                out.flush()  # a stream (say, a log tail) shows as it comes
        except OSError as exc:
            if out is self.stdout and exc.errno == errno.EPIPE:
                self._fail(FILE_ERROR, "")  # the reader left (| head): nothing to say
                _silence(out)
                return
            where = "stdout" if out is self.stdout else self.args.output
            self._fail(FILE_ERROR, f"cannot write {where}: {exc.strerror or exc}")

    def _fail(self, status: int, message: str) -> None:
        if self.failure is None:
            self.failure = (status, message)
        if self.future is not None:
            self.future.cancel()

    def _close_output(self) -> None:
        out, self.out = self.out, None
        if out is None or out is self.stdout:
            return
        try:
            out.close()
        except OSError as exc:
            if self.failure is None:
                self.failure = (FILE_ERROR, f"cannot write {self.args.output}: {exc.strerror}")

    # -- the outcome ---------------------------------------------------------------------------

    def _outcome(self, future: ResponseFuture) -> int:
        if self.failure is not None:
            return self._report(*self.failure)
        error = future.exception()
        if error is not None:
            return self._report(exit_status(error), str(error) or type(error).__name__)
        response = future.result()
        if response.status >= 400:
            return self._report(HTTP_ERROR, f"{response.status} {response.reason}".rstrip())
        return OK

    def _report(self, status: int, message: str) -> int:
        if message and not self.args.silent:
            print(f"evweb fetch: {self.url}: {message}", file=self.stderr, flush=True)
        return status


def _bytes(text: str) -> bytes:
    return os.fsencode(text)  # arguments that were not UTF-8 go out as the bytes they were


def _head_bytes(response: ClientResponse) -> bytes:
    major, minor = response.version
    lines = [f"HTTP/{major}.{minor} {response.status} {response.reason}".rstrip()]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def _content_length(response: ClientResponse) -> int | None:
    value = response.headers.get("content-length")
    if response.request.method == "HEAD" or value is None or not value.isdigit():
        return None
    return int(value)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _silence(out: BinaryIO) -> None:
    """Point a broken stdout at /dev/null, so flushing it at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


# -- the progress line ----------------------------------------------------------------------


class Progress:
    """The download's progress on one terminal line: bytes, rate, and percent when known.

    :meth:`update` draws it (nothing during the first :attr:`DELAY` seconds
    after ``started``); :meth:`finish` erases it. ``received`` is counted by
    the caller.
    """

    INTERVAL = 0.25
    """Seconds between updates (the reactor timer's period)."""
    DELAY = 1.0
    """No line for a download that ends sooner than this."""

    def __init__(
        self, stream: TextIO, total: int | None, started: float, clock: Any = time.monotonic
    ) -> None:
        self.stream = stream
        self.total = total
        self.started = started
        self.clock = clock
        self.received = 0
        self.shown = False

    def line(self, now: float) -> str:
        """The text for ``now``: ``1.5 MiB of 4.0 MiB (37%), 750.0 KiB/s``."""
        elapsed = max(now - self.started, 1e-9)
        rate = f"{size(self.received / elapsed)}/s"
        if self.total:
            percent = min(100, self.received * 100 // self.total)
            return f"{size(self.received)} of {size(self.total)} ({percent}%), {rate}"
        return f"{size(self.received)}, {rate}"

    def update(self, now: float | None = None) -> None:
        """Draw the line, unless the download is younger than :attr:`DELAY`."""
        now = self.clock() if now is None else now
        if now - self.started < self.DELAY:
            return
        self.shown = True
        self._put("\r" + self.line(now) + "\x1b[K")

    def finish(self) -> None:
        """Erase the line, if it was drawn."""
        if self.shown:
            self.shown = False
            self._put("\r\x1b[K")

    def _put(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a terminal gone away is no reason to stop the download


def size(n: float) -> str:
    """``n`` bytes for people: ``512 B``, ``1.5 KiB``, ``3.2 MiB``, ``1.0 GiB``."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            break
    return f"{n:.1f} {unit}"
