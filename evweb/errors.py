"""evweb's exception tree: every error evweb raises derives from :class:`EvwebError`.

::

    EvwebError
    ├── ConfigError (also ValueError)         a configuration value is wrong
    │   ├── NoBackendError                    no backend satisfies an EventConfig
    │   ├── AddressError                      a socket address string cannot be parsed (.text)
    │   └── ListenerConfigError               a listener cannot be built as asked (backlog 0
    │                                         with bind, SO_REUSEADDR on a Unix socket, ...)
    ├── ReactorError                          misuse of the reactor, named with the value
    │   ├── InvalidFdError (ValueError)       negative, closed or unpollable fd
    │   ├── InvalidTimeoutError (ValueError)  negative, NaN or infinite timeout
    │   ├── InvalidPriorityError (ValueError) priority outside 0..npriorities-1
    │   ├── InvalidEventError (ValueError)    impossible flag combination
    │   ├── UnsupportedFeatureError           the backend lacks a feature (ET)
    │   ├── EventStateError (RuntimeError)    operation not allowed in the event's state
    │   ├── ReentrantLoopError (RuntimeError) loop() called from inside loop()
    │   ├── SignalError                       signal events outside the main thread, bad signo
    │   └── ListenerStateError (RuntimeError) operation on a closed listener
    ├── EvwebBufferError                      misuse of an evweb.io Buffer, named with the values
    │   ├── BufferFrozenError (RuntimeError)  the end the operation touches is frozen (.front)
    │   ├── BufferArgumentError (ValueError)  a negative count, unknown EOL style, bad flag...
    │   │   ├── BufferTooShortError           more bytes asked for than held (.wanted, .available)
    │   │   └── BufferPositionError (IndexError) a position outside 0..len (.position, .length)
    │   ├── BufferCommitError (RuntimeError)  commit without a reservation, after a change,
    │   │                                     or of more bytes than were reserved
    │   ├── BufferReferenceError (ValueError) add_buffer_reference refused (file or
    │   │                                     referenced segments in the source, or itself)
    │   ├── UnknownCallbackError (LookupError) removing a callback the buffer does not hold
    │   └── FileSegmentError                  a file segment cannot be built or read
    ├── EvwebTimeoutError (also TimeoutError) an operation ran out of time
    ├── TLSError                              a TLS BufferEvent refused an operation (connect()
    │                                         on the server side); a peer's or a certificate's
    │                                         failure is not raised: it is the ssl.SSLError
    │                                         in TLSBufferEvent.error and .tls_errors
    ├── HTTPException                         a web-app handler answers a status (.status,
    │                                         .detail, .headers); not a bug: no traceback
    ├── InvalidURIError (also ValueError)     a URI, URI component or query string is
    │                                         malformed (.text: the offending text)
    ├── HTTPClientError                       an HTTP client request failed (.request)
    │   ├── ConnectError (ConnectionError)    no connection to the server (.address)
    │   │   ├── ConnectTimeoutError           ... within the connect timeout (TimeoutError)
    │   │   ├── ProxyError                    the proxy refused the CONNECT tunnel (.status)
    │   │   └── CertificateError              the server's certificate failed verification
    │   ├── ServerDisconnectedError           the server closed before the response ended
    │   │   (ConnectionError)
    │   ├── ReadTimeoutError (TimeoutError)   the response stopped arriving
    │   ├── WriteTimeoutError (TimeoutError)  the request could not be sent in time
    │   ├── PoolTimeoutError (TimeoutError)   no pooled connection came free in time
    │   ├── RequestCancelledError             cancel() ended the request
    │   ├── TooManyRedirectsError             a redirect chain was longer than allowed
    │   └── HTTPStatusError                   raise_for_status() on a 4xx/5xx (.response)
    ├── DNSError                              a DNS name or value was refused (evweb.dns)
    │   ├── DNSNameError (also ValueError)    a domain name in text is invalid (.name)
    │   ├── DNSValueError (also ValueError)   a value cannot be encoded or is unknown
    │   │                                     (a field out of range, a bad address, ...)
    │   ├── ZoneFileError                     a zone or hosts file cannot be served
    │   │                                     (.file, .line, .reason)
    │   └── DNSLookupError                    a lookup failed (.name, .code: a DNSErrorCode,
    │       │                                 libevent's DNS_ERR_*; .rcode when a server
    │       │                                 answered)
    │       ├── DNSTimeoutError               no answer in time (also TimeoutError)
    │       └── DNSGetaddrinfoError           getaddrinfo failed (.eai, also .errno: the EAI
    │                                         code; also socket.gaierror)
    └── ProtocolError                         a peer broke a wire protocol
        │                                     (.status: HTTP status to answer;
        │                                      .rcode: DNS rcode to answer)
        ├── DNSFormatError (also DNSError)    a DNS message broke RFC 1035 (rcode 1, FORMERR;
        │                                     .offset; .id and .flags when the header was read)
        └── HTTPProtocolError                 an HTTP message broke RFC 9110/9112 (.status, .value)
            ├── BadRequestError               400: syntax, framing or smuggling ambiguity
            ├── MethodNotAllowedError         405: a known method this server refuses (.allowed)
            ├── RequestTimeoutError           408: the head or body came too slowly
            │                                 (also TimeoutError)
            ├── ContentTooLargeError          413: the body is over the size limit
            ├── URITooLongError               414: the request line is over its limit
            ├── ExpectationFailedError        417: an Expect other than 100-continue
            ├── HeaderFieldsTooLargeError     431: the header section is over its limits
            ├── MethodNotImplementedError     501: an unknown method or transfer coding
            ├── HTTPVersionNotSupportedError  505: a major version other than 1
            └── InvalidResponseError          a server's response broke the protocol
                                              (status 502, for a proxy to answer)

Later layers (http, dns, rpc) add their subclasses here, under these roots.
Errors the kernel reports (``bind`` finding the address in use, a reset
connection, ...) are not wrapped: the :class:`OSError` goes through as is.
``except EvwebError`` catches everything evweb raises on purpose; the builtin
bases (``ValueError``, ``TimeoutError``) let callers that know nothing of
evweb catch what they expect.
"""

from __future__ import annotations

import enum
import socket


class EvwebError(Exception):
    """Root of every exception evweb raises deliberately."""


class ConfigError(EvwebError, ValueError):
    """A configuration value is invalid; the message names it."""


class NoBackendError(ConfigError):
    """No available backend satisfies the requested configuration."""


class ReactorError(EvwebError):
    """The reactor refused an operation."""


class InvalidFdError(ReactorError, ValueError):
    """The fd is negative, closed, or of a kind the backend cannot poll."""

    def __init__(self, fd: int, reason: str) -> None:
        super().__init__(f"invalid fd {fd}: {reason}")
        self.fd = fd


class InvalidTimeoutError(ReactorError, ValueError):
    """A timeout is negative, NaN or infinite."""

    def __init__(self, timeout: object) -> None:
        super().__init__(
            f"invalid timeout {timeout!r}: expected a finite number of seconds >= 0 or None"
        )
        self.timeout = timeout


class InvalidPriorityError(ReactorError, ValueError):
    """A priority or a number of priority queues is out of range."""


class InvalidEventError(ReactorError, ValueError):
    """An event was declared with an impossible combination of flags."""


class UnsupportedFeatureError(ReactorError):
    """The base's backend lacks a feature the event needs."""


class EventStateError(ReactorError, RuntimeError):
    """The operation is not allowed in the event's (or base's) current state."""


class ReentrantLoopError(EventStateError):
    """``loop()`` was called while the same base was already looping."""


class SignalError(ReactorError):
    """A signal event cannot be set up (wrong thread, bad signal number)."""


class EvwebBufferError(EvwebError):
    """A :class:`evweb.io.Buffer` refused an operation; the message names the values."""


class BufferFrozenError(EvwebBufferError, RuntimeError):
    """The operation changes the frozen end of the buffer.

    ``front`` is True for the start (drain, remove, prepend, readln, write)
    and False for the end (add, reserve, commit, read).
    """

    def __init__(self, operation: str, front: bool) -> None:
        end = "front" if front else "back"
        super().__init__(f"{operation}: the buffer's {end} is frozen")
        self.operation = operation
        self.front = front


class BufferArgumentError(EvwebBufferError, ValueError):
    """A count, length, offset, EOL style or flag is invalid."""


class BufferTooShortError(BufferArgumentError):
    """More bytes were asked for than the buffer holds."""

    def __init__(self, operation: str, wanted: int, available: int) -> None:
        super().__init__(f"{operation}: wanted {wanted} bytes, the buffer holds {available}")
        self.operation = operation
        self.wanted = wanted
        self.available = available


class BufferPositionError(BufferArgumentError, IndexError):
    """A position lies outside ``0..len(buffer)``."""

    def __init__(self, operation: str, position: int, length: int) -> None:
        super().__init__(f"{operation}: position {position} outside 0..{length}")
        self.operation = operation
        self.position = position
        self.length = length


class BufferCommitError(EvwebBufferError, RuntimeError):
    """commit() without a live reservation, or of more than was reserved."""


class BufferReferenceError(EvwebBufferError, ValueError):
    """add_buffer_reference() refused the source buffer."""


class UnknownCallbackError(EvwebBufferError, LookupError):
    """The callback handle is not registered on this buffer."""


class FileSegmentError(EvwebBufferError):
    """A file segment has a bad range, or its file is shorter than promised."""


class EvwebTimeoutError(EvwebError, TimeoutError):
    """An operation did not finish in time."""


class ProtocolError(EvwebError):
    """A peer sent something a protocol forbids.

    ``status`` is the HTTP status a server should answer with and ``rcode``
    the DNS rcode; layers set the one that applies.
    """

    status: int | None = None
    rcode: int | None = None


class AddressError(ConfigError):
    """A socket address string is malformed or its port is out of range.

    ``text`` is the string that was refused.
    """

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid socket address {text!r}: {reason}")
        self.text = text


class ListenerConfigError(ConfigError):
    """The listener cannot be created with these arguments; the message names the culprit."""


class ListenerStateError(ReactorError, RuntimeError):
    """The operation is not allowed in the listener's current state (it is closed)."""


class TLSError(EvwebError):
    """A TLS BufferEvent cannot do what was asked in its role or state."""


class HTTPProtocolError(ProtocolError):
    """An HTTP message broke RFC 9110/9112; ``status`` is what a server answers.

    ``value`` is the offending piece of the message (a header line, a chunk
    size, a method), when there is one; the message quotes it cut to 80
    characters (with ``...`` after the quote when cut).
    """

    status: int | None = 400

    def __init__(self, message: str, value: str | bytes | bytearray | None = None) -> None:
        if value is not None:
            if not isinstance(value, str):
                value = bytes(value)
            text = value if isinstance(value, str) else value.decode("latin-1")
            more = "..." if len(text) > 80 else ""
            message = f"{message}: {text[:80]!r}{more}"
        super().__init__(message)
        self.value = value


class BadRequestError(HTTPProtocolError):
    """400: malformed syntax, or framing a smuggler could exploit."""

    status = 400


class MethodNotAllowedError(HTTPProtocolError):
    """405: a method this server knows but refuses; ``allowed`` lists the ones it accepts."""

    status = 405

    def __init__(
        self, message: str, value: str | None = None, allowed: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, value)
        self.allowed = allowed


class RequestTimeoutError(HTTPProtocolError, EvwebTimeoutError):
    """408: the request head or body did not arrive within its timeout."""

    status = 408


class ContentTooLargeError(HTTPProtocolError):
    """413: the declared or received body is larger than the limit."""

    status = 413


class URITooLongError(HTTPProtocolError):
    """414: the request line is longer than the limit."""

    status = 414


class ExpectationFailedError(HTTPProtocolError):
    """417: an ``Expect`` header other than ``100-continue``."""

    status = 417


class HeaderFieldsTooLargeError(HTTPProtocolError):
    """431: the header section (or trailer section) is over its size or count limit."""

    status = 431


class MethodNotImplementedError(HTTPProtocolError):
    """501: an unknown method, or a transfer coding the server cannot decode."""

    status = 501


class HTTPVersionNotSupportedError(HTTPProtocolError):
    """505: an HTTP major version other than 1."""

    status = 505


class InvalidResponseError(HTTPProtocolError):
    """A server's response broke the protocol (a proxy would answer 502)."""

    status = 502


class HTTPException(EvwebError):  # noqa: N818 - the name web frameworks use
    """Raised by an :class:`~evweb.http.app.App` handler to answer ``status`` at once.

    ``detail`` is the body (the reason phrase when None) and ``headers``
    extra fields, e.g. ``Allow`` for 405 or ``WWW-Authenticate`` for 401.
    The App turns it into a response through its exception handlers.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise ConfigError(f"HTTPException status must be an int in 100..999, got {status!r}")
        super().__init__(f"{status}: {detail}" if detail is not None else str(status))
        self.status = status
        self.detail = detail
        self.headers = headers


class InvalidURIError(EvwebError, ValueError):
    """A URI, a URI component or a query string is malformed (:mod:`evweb.http.uri`).

    ``text`` is the offending text; the message quotes it cut to 100 characters.
    """

    def __init__(self, text: str, reason: str) -> None:
        more = "..." if len(text) > 100 else ""
        super().__init__(f"invalid URI {text[:100]!r}{more}: {reason}")
        self.text = text


class HTTPClientError(EvwebError):
    """An HTTP client request failed; ``request`` is the request that failed (when known).

    Protocol violations in a response are :class:`InvalidResponseError` (and
    :class:`ContentTooLargeError` for a body over the limit), not subclasses
    of this class: they name the rule the server broke.
    """

    request: object | None = None


class ConnectError(HTTPClientError, ConnectionError):
    """No connection could be made; ``address`` is where (``host:port`` or a socket path).

    The underlying :class:`OSError`, :class:`socket.gaierror` or
    :class:`ssl.SSLError` is the ``__cause__``.
    """

    def __init__(self, message: str, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class ConnectTimeoutError(ConnectError, EvwebTimeoutError):
    """The connection (TCP, proxy tunnel and TLS handshake) did not complete in time."""


class ProxyError(ConnectError):
    """The proxy answered the ``CONNECT`` with a non-2xx ``status`` (0: no valid answer)."""

    def __init__(self, message: str, address: str = "", status: int = 0) -> None:
        super().__init__(message, address)
        self.status = status


class CertificateError(ConnectError):
    """The server's certificate or host name failed verification (the ssl error is the cause)."""


class ServerDisconnectedError(HTTPClientError, ConnectionError):
    """The server closed the connection before the response was complete (``EVREQ_HTTP_EOF``)."""


class ReadTimeoutError(HTTPClientError, EvwebTimeoutError):
    """No response byte arrived within the read timeout."""


class WriteTimeoutError(HTTPClientError, EvwebTimeoutError):
    """The request could not be written within the write timeout."""


class PoolTimeoutError(HTTPClientError, EvwebTimeoutError):
    """Every connection the pool may open was busy for the whole pool timeout."""


class RequestCancelledError(HTTPClientError):
    """The request was cancelled before its response ended."""


class TooManyRedirectsError(HTTPClientError):
    """More redirects than ``max_redirects``; ``response`` is the last redirect received."""

    def __init__(self, message: str, response: object) -> None:
        super().__init__(message)
        self.response = response


class HTTPStatusError(HTTPClientError):
    """``raise_for_status()`` met a 4xx or 5xx: ``response`` and ``status`` say which."""

    def __init__(self, message: str, response: object, status: int) -> None:
        super().__init__(message)
        self.response = response
        self.status = status


class DNSError(EvwebError):
    """Base of the errors of :mod:`evweb.dns` (the wire format's is :class:`DNSFormatError`)."""


class DNSNameError(DNSError, ValueError):
    """A domain name given in text is invalid; ``name`` is the text refused.

    The message names the rule: an empty label, a label over 63 bytes, a name
    over 255 bytes, a bad escape, a character a host name cannot hold.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"invalid DNS name {name[:300]!r}: {reason}")
        self.name = name


class DNSValueError(DNSError, ValueError):
    """A value cannot go into a DNS message, or a mnemonic is unknown; the message names it."""


class DNSFormatError(ProtocolError, DNSError):
    """A DNS message broke the wire format (RFC 1035, 2181, 6891); a server answers FORMERR.

    ``offset`` is where in the message the rule broke. ``id`` and ``flags``
    are the header's when it was readable (None otherwise), so a server can
    answer a malformed query and a resolver can see the TC bit of a reply
    cut short.
    """

    rcode: int | None = 1

    def __init__(
        self, reason: str, offset: int, id: int | None = None, flags: int | None = None
    ) -> None:
        super().__init__(f"{reason} (at offset {offset})")
        self.reason = reason
        self.offset = offset
        self.id = id
        self.flags = flags

    @property
    def opcode(self) -> int | None:
        """The header's opcode, when the flags were readable."""
        return None if self.flags is None else (self.flags >> 11) & 0xF


class DNSErrorCode(enum.IntEnum):
    """Why a lookup failed: libevent's ``DNS_ERR_*`` numbers (``NONE`` is success)."""

    NONE = 0
    FORMAT = 1
    SERVERFAILED = 2
    NOTEXIST = 3
    NOTIMPL = 4
    REFUSED = 5
    TRUNCATED = 65
    UNKNOWN = 66
    TIMEOUT = 67
    SHUTDOWN = 68
    CANCEL = 69
    NODATA = 70

    @property
    def description(self) -> str:
        """The text libevent's ``evdns_err_to_string`` gives for the code."""
        return _DNS_ERROR_TEXT[self]


_DNS_ERROR_TEXT = {
    DNSErrorCode.NONE: "no error",
    DNSErrorCode.FORMAT: "misformatted query",
    DNSErrorCode.SERVERFAILED: "server failed",
    DNSErrorCode.NOTEXIST: "name does not exist",
    DNSErrorCode.NOTIMPL: "query not implemented",
    DNSErrorCode.REFUSED: "refused",
    DNSErrorCode.TRUNCATED: "reply truncated or ill-formed",
    DNSErrorCode.UNKNOWN: "unknown",
    DNSErrorCode.TIMEOUT: "request timed out",
    DNSErrorCode.SHUTDOWN: "dns subsystem shut down",
    DNSErrorCode.CANCEL: "dns request canceled",
    DNSErrorCode.NODATA: "no records in the reply",
}


class DNSLookupError(DNSError):
    """A lookup did not give an answer: ``name`` (as asked), ``code`` and ``rcode``.

    ``code`` is a :class:`DNSErrorCode` (libevent's ``DNS_ERR_*`` number);
    ``rcode`` is the rcode of the reply that decided the outcome, or None
    when no server answered (a timeout, a cancel, a shutdown).
    """

    def __init__(self, name: str, code: int, rcode: int | None = None) -> None:
        self.name = name
        self.code = DNSErrorCode(code)
        self.rcode = rcode
        super().__init__(f"{name!r}: {self.code.description} ({self.code.name})")


class DNSTimeoutError(DNSLookupError, EvwebTimeoutError):
    """No server answered the lookup within its attempts (code ``TIMEOUT``)."""


class DNSGetaddrinfoError(DNSLookupError, socket.gaierror):
    """:func:`evweb.dns.getaddrinfo.getaddrinfo` failed; ``eai`` is the ``EAI_*`` code.

    Also a :class:`socket.gaierror` whose ``errno`` is ``eai``, so code written
    for :func:`socket.getaddrinfo` catches it. ``code`` and ``rcode`` say what
    the DNS answered when it was asked (``code`` is ``UNKNOWN`` for failures
    found before any query: a bad service, family or flag).
    """

    def __init__(
        self, name: str, eai: int, message: str, code: int = 66, rcode: int | None = None
    ) -> None:
        super().__init__(name, code, rcode)
        self.eai = eai
        self.errno = eai
        self.strerror = message
        self.message = f"{name!r}: {message}" if name else message

    def __str__(self) -> str:
        return self.message


class ZoneFileError(DNSError):
    """A zone file (RFC 1035 master file) or hosts-format file cannot be served.

    ``file`` and ``line`` (1-based; 0 when the fault is in no one line) say
    where, ``reason`` what is wrong; ``str()`` is ``file:line: reason``.
    """

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason
