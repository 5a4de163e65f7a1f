r"""Domain names in text: to and from the wire's labels, compared, checked, reversed.

A name is a ``str`` in presentation form, as dig prints it: labels joined by
dots, with a trailing dot once read from the wire (``"www.example.com."``;
the root is ``"."``). Bytes a label cannot show as themselves are escaped
as dnspython and BIND do: ``\.`` ``\\`` ``\"`` ``\(`` ``\)`` ``\;`` ``\@``
``\$`` for the special characters and ``\DDD`` (decimal) for spaces,
controls and bytes over 0x7e. Text given to evweb may omit the trailing dot
(every name on the wire is absolute) and may escape any character.

Case is kept both ways: the 0x20 defence (a resolver randomises the case of
its query and wants the same case back) depends on it. Comparisons that
should ignore case go through :func:`names_equal` or :func:`name_key`.
"""

from __future__ import annotations

import ipaddress
import re

from evweb.errors import DNSNameError, DNSValueError

MAX_LABEL = 63
MAX_NAME = 255  # wire bytes, counting the length bytes and the final zero

_SPECIAL = b'"().;\\@$'
# Bytes that stand for themselves in a label's text: printable ASCII but the specials.
_PLAIN = bytes(b for b in range(0x21, 0x7F) if b not in _SPECIAL)
_ESCAPES = {b: f"\\{b:03d}" for b in range(256) if b < 0x21 or b > 0x7E} | {
    b: "\\" + chr(b) for b in _SPECIAL
}
# One token of escaped text: an escape (``\DDD`` or ``\X``), a dot, or a run of
# other characters. A backslash before a digit must start three digits.
_TOKEN = re.compile(r"\\(?:([0-9]{3})|([^0-9]))|(\.)|([^\\.]+)", re.DOTALL)
# What a host name may not hold: spaces, controls, DEL and escapes.
_NOT_HOSTNAME = re.compile(r"[\x00-\x20\x7f\\]")


def label_text(raw: bytes) -> str:
    """The presentation form of one label's bytes, escaping what needs it."""
    if raw.translate(None, _PLAIN):  # something left: not only plain bytes
        return raw.decode("latin-1").translate(_ESCAPES)
    return raw.decode("ascii")


def name_to_wire(name: str) -> bytes:
    r"""The uncompressed wire form of ``name`` (absolute, with its final zero byte).

    ``name`` may omit the trailing dot and may hold escapes (``\.``, ``\\``,
    ``\DDD``). Raises :class:`~evweb.errors.DNSNameError` for an empty name or
    label, a label over 63 bytes, a name over 255 bytes, a bad escape or a
    character outside ASCII.
    """
    return encode_name(name)[0]


def encode_name(name: str) -> tuple[bytes, tuple[int, ...]]:
    """The wire form of ``name`` and where each of its labels starts in it."""
    starts: list[int] = []
    parts: list[bytes] = []
    length = 0
    for label in checked_labels(name):
        starts.append(length)
        parts.append(bytes((len(label),)))
        parts.append(label)
        length += len(label) + 1
    parts.append(b"\x00")
    return b"".join(parts), tuple(starts)


def checked_labels(name: str) -> list[bytes]:
    """The labels of ``name`` as bytes (none for the root), within the limits."""
    labels = _split(name)
    length = 1
    for label in labels:
        size = len(label)
        if not size:
            raise DNSNameError(name, "empty label")
        if size > MAX_LABEL:
            raise DNSNameError(name, f"a label of {size} bytes (at most {MAX_LABEL})")
        length += size + 1
    if length > MAX_NAME:
        raise DNSNameError(name, f"{length} bytes on the wire (at most {MAX_NAME})")
    return labels


def _split(name: str) -> list[bytes]:
    """The labels of ``name`` as bytes (none for the root)."""
    if name == ".":
        return []
    if not name:
        raise DNSNameError(name, "empty name (the root is '.')")
    if "\\" in name:
        return _split_escaped(name)
    if not name.isascii():
        raise DNSNameError(name, "a character outside ASCII (encode it with IDNA first)")
    body = name[:-1] if name.endswith(".") else name
    return body.encode("ascii").split(b".")


def _split_escaped(name: str) -> list[bytes]:
    labels: list[bytes] = []
    label = bytearray()
    pos = 0
    size = len(name)
    while pos < size:
        match = _TOKEN.match(name, pos)
        if match is None:
            raise DNSNameError(name, f"a bad escape at character {pos}")
        digits, char, dot, run = match.groups()
        pos = match.end()
        if dot is not None:
            labels.append(bytes(label))
            label.clear()
            continue
        if digits is not None:
            if int(digits) > 0xFF:
                raise DNSNameError(name, f"escape \\{digits} is over 255")
            label.append(int(digits))
            continue
        text = char if char is not None else run
        if not text.isascii():
            raise DNSNameError(name, "a character outside ASCII (encode it with IDNA first)")
        label += text.encode("ascii")
    if label or not name.endswith("."):  # a final unescaped dot ends the name
        labels.append(bytes(label))
    return labels


def normalize_name(name: str) -> str:
    r"""``name`` in the form names read from the wire have: absolute, canonical escapes.

    The case is kept. ``normalize_name("a\\065.com")`` is ``"aA.com."``.
    """
    labels = checked_labels(name)
    if not labels:
        return "."
    return "".join(label_text(label) + "." for label in labels)


def name_key(name: str) -> str:
    """A key equal for names that differ only in letter case (for dicts and caches)."""
    return normalize_name(name).lower()


def names_equal(a: str, b: str) -> bool:
    """Whether two names are the same name, ignoring ASCII case (RFC 4343)."""
    return a == b or name_key(a) == name_key(b)


def check_hostname(name: str) -> str:
    """Check a host name a user wants resolved; return it normalized (trailing dot added).

    Refused with :class:`~evweb.errors.DNSNameError`: the empty name and the
    root, empty labels (``a..b``, ``.a``), labels over 63 bytes, names over
    255 bytes, and spaces, controls, backslashes or characters outside ASCII.
    Underscores and other printable characters pass: service names use them.
    """
    if not name or name == ".":
        raise DNSNameError(name, "empty host name")
    bad = _NOT_HOSTNAME.search(name)
    if bad is not None:
        raise DNSNameError(name, f"character {bad.group()!r} cannot be in a host name")
    return normalize_name(name)


def parent_name(name: str) -> str:
    r"""``name`` without its first label (``"."`` above a one-label name); ``\.`` kept."""
    if "\\" not in name:
        return name[name.find(".") + 1 :] or "."
    pos, size = 0, len(name)
    while pos < size:
        char = name[pos]
        if char == "\\":
            pos += 4 if name[pos + 1 : pos + 2].isdigit() else 2
        elif char == ".":
            return name[pos + 1 :] or "."
        else:
            pos += 1
    return "."


def reverse_name(address: str) -> str:
    """The PTR name of an IPv4 or IPv6 address (``in-addr.arpa.`` or nibbles in ``ip6.arpa.``).

    Raises :class:`~evweb.errors.DNSValueError` if ``address`` is not one.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise DNSValueError(f"not an IP address: {address!r}") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        ip = ipaddress.IPv6Address(ip.packed)
    return ip.reverse_pointer + "."
