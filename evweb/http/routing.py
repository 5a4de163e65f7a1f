"""A route table in starlette's spirit: path templates, convertors, mounts, 404 vs 405, url_for.

A template is a path with parameters, ``/users/{id:int}/posts/{slug}``; a
parameter is ``{name}`` or ``{name:convertor}``. A convertor is a small
object with a ``regex`` (what the parameter may look like in the path), a
``convert`` (text to value) and a ``to_string`` (value to text, for
:meth:`Router.url_for`); ``str`` (the default: no ``/``), ``int``,
``float``, ``path`` (may hold ``/``) and ``uuid`` come built in, and
:meth:`Router.add_convertor` adds others.

Matching a method and a (decoded) path gives a :class:`RouteMatch` whose
``match`` is FULL (path and method), PARTIAL (the path matched, the method
did not: answer 405 with ``Allow``) or NONE (404). GET routes answer HEAD
too. The order of precedence:

1. a path without parameters, looked up in a dict (the common case costs
   two dict lookups and allocates nothing);
2. templated routes and mounts, tried in the order they were added; the
   first FULL match wins, PARTIAL matches only add to ``Allow``. A mount
   whose prefix matches but whose sub-router has nothing for the rest is
   skipped, so a mount at ``/`` serves as a fall-back.

A mount hands the rest of the path to a sub-router (an App's) or to any
handler; the part it consumed goes to ``RouteMatch.root_path``, so a
mounted handler finds its own path as ``request.path[len(request.root_path):]``.

Why it is shaped this way: templates compile once into a regular
expression, a format string and the convertors, so matching is one
``re.match`` per templated route, and reverse routing needs no parsing.
Configuration mistakes (a malformed template, an unknown convertor, a
duplicate name or route, a missing parameter in ``url_for``) raise
:class:`~evweb.errors.ConfigError` when the route is added, not when the
first request comes.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import quote

from evweb.errors import ConfigError

Handler = Callable[[Any], object]
"""``handler(request)``: what a route or a mount calls."""

_PARAM = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Z]+\Z")  # an upper-case token
_SEGMENT_SAFE = "!$&'()*+,;=:@"  # sub-delims and ':' '@' stay as they are in a path segment
_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


class Convertor(Protocol):
    """What a path parameter may look like (``regex``) and how it becomes a value and back."""

    regex: str

    def convert(self, value: str) -> Any:
        """The value of the matched text (ValueError: treat the path as not matching)."""

    def to_string(self, value: Any) -> str:
        """The text of ``value`` in a URL (ValueError or TypeError: it cannot be one)."""


class StringConvertor:
    """``{name}`` or ``{name:str}``: one non-empty path segment."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        """The text itself."""
        return value

    def to_string(self, value: Any) -> str:
        """The text, which may not be empty nor hold ``/``."""
        text = str(value)
        if not text or "/" in text:
            raise ValueError(f"a str parameter may not be empty or hold '/': {text!r}")
        return text


class PathConvertor:
    """``{name:path}``: the rest of the path, slashes included (may be empty)."""

    regex = ".*"

    def convert(self, value: str) -> str:
        """The text itself."""
        return value

    def to_string(self, value: Any) -> str:
        """The text."""
        return str(value)


class IntConvertor:
    """``{name:int}``: decimal digits, converted to an int."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        """The int."""
        return int(value)

    def to_string(self, value: Any) -> str:
        """Decimal digits of an int >= 0."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"an int parameter must be an int >= 0, got {value!r}")
        return str(value)


class FloatConvertor:
    """``{name:float}``: ``12`` or ``12.5``, converted to a float."""

    regex = r"[0-9]+(?:\.[0-9]+)?"

    def convert(self, value: str) -> float:
        """The float."""
        return float(value)

    def to_string(self, value: Any) -> str:
        """The shortest decimal text of a finite number >= 0 (no exponent)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"a float parameter must be a number, got {value!r}")
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"a float parameter must be finite and >= 0, got {value!r}")
        import decimal

        text = format(decimal.Decimal(repr(float(value))), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text


class UUIDConvertor:
    """``{name:uuid}``: a hyphenated UUID, converted to :class:`uuid.UUID`."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def convert(self, value: str) -> Any:
        """The :class:`uuid.UUID`."""
        import uuid

        return uuid.UUID(value)

    def to_string(self, value: Any) -> str:
        """The hyphenated lower-case form."""
        import uuid

        return str(uuid.UUID(str(value)))


DEFAULT_CONVERTORS: Mapping[str, Convertor] = MappingProxyType(
    {
        "str": StringConvertor(),
        "path": PathConvertor(),
        "int": IntConvertor(),
        "float": FloatConvertor(),
        "uuid": UUIDConvertor(),
    }
)
"""The convertors every Router starts with."""


class Match(enum.IntEnum):
    """How well a route matched a request."""

    NONE = 0
    """The path did not match: 404."""
    PARTIAL = 1
    """The path matched, the method did not: 405 with ``Allow``."""
    FULL = 2
    """Path and method matched."""


class PathTemplate:
    """A compiled path template: ``regex``, ``names`` and the way back (:meth:`format`).

    ``prefix=True`` compiles a mount prefix: it matches the start of a path,
    up to a ``/`` or the end.
    """

    __slots__ = (
        "_convertors",
        "_pieces",
        "names",
        "needs_conversion",
        "regex",
        "static",
        "template",
    )

    def __init__(
        self, template: str, convertors: Mapping[str, Convertor], *, prefix: bool = False
    ) -> None:
        if not template.startswith("/") and not (prefix and template == ""):
            raise ConfigError(f"a path template must start with '/': {template!r}")
        self.template = template
        pattern, pieces, names, convs = _compile(template, convertors)
        self._pieces = pieces
        self.names: tuple[str, ...] = tuple(names)
        self._convertors = convs
        self.static = not names
        self.needs_conversion = any(
            type(c) not in (StringConvertor, PathConvertor) for c in convs.values()
        )
        """Whether a parameter's text must go through its convertor (str and path need not)."""
        tail = "(?=/|\\Z)" if prefix else "\\Z"
        self.regex = re.compile(pattern + tail)

    def match(self, path: str) -> tuple[int, dict[str, Any]] | None:
        """(end of the match, params) when ``path`` matches, else None."""
        m = self.regex.match(path)
        if m is None:
            return None
        params = m.groupdict()
        if self.needs_conversion and not self.convert(params):
            return None
        return m.end(), params

    def convert(self, params: dict[str, Any]) -> bool:
        """Convert the matched texts in place; False when a convertor refused one."""
        try:
            for name, conv in self._convertors.items():
                params[name] = conv.convert(params[name])
        except ValueError:
            return False
        return True

    def format(self, params: Mapping[str, Any]) -> str:
        """The path for ``params`` (percent-encoded); ConfigError for a missing or bad value."""
        out = []
        for i, piece in enumerate(self._pieces):
            if i % 2 == 0:
                out.append(piece)
                continue
            if piece not in params:
                raise ConfigError(f"{self.template!r} needs the parameter {piece!r}")
            conv = self._convertors[piece]
            try:
                text = conv.to_string(params[piece])
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{self.template!r}: parameter {piece!r}: {exc}") from None
            if not re.fullmatch(conv.regex, text):
                raise ConfigError(
                    f"{self.template!r}: parameter {piece!r} gives {text!r}, "
                    f"which does not match {conv.regex!r}"
                )
            safe = _SEGMENT_SAFE + ("/" if isinstance(conv, PathConvertor) else "")
            out.append(quote(text, safe=safe))
        return "".join(out)

    def __repr__(self) -> str:
        return f"PathTemplate({self.template!r})"


def _compile(
    template: str, convertors: Mapping[str, Convertor]
) -> tuple[str, list[str], list[str], dict[str, Convertor]]:
    """(regex source, literal/name pieces alternating, names, convertors by name)."""
    pattern, pieces, names, convs = "^", [], [], {}
    pos = 0
    for m in _PARAM.finditer(template):
        literal = template[pos : m.start()]
        name, _, kind = m.group(1).partition(":")
        kind = kind or "str"
        if not _NAME.match(name):
            raise ConfigError(f"{template!r}: invalid parameter name {name!r}")
        if name in convs:
            raise ConfigError(f"{template!r}: parameter {name!r} appears twice")
        conv = convertors.get(kind)
        if conv is None:
            raise ConfigError(f"{template!r}: unknown convertor {kind!r}")
        _check_literal(template, literal)
        pattern += re.escape(literal) + f"(?P<{name}>{conv.regex})"
        pieces += [literal, name]
        names.append(name)
        convs[name] = conv
        pos = m.end()
    literal = template[pos:]
    _check_literal(template, literal)
    pieces.append(literal)
    return pattern + re.escape(literal), pieces, names, convs


def _check_literal(template: str, literal: str) -> None:
    if "{" in literal or "}" in literal:
        raise ConfigError(f"{template!r}: unbalanced '{{' or '}}'")


class PathRoute:
    """One route: a template, the methods it answers and its handler."""

    __slots__ = (
        "explicit",
        "handler",
        "max_body_size",
        "methods",
        "name",
        "owner",
        "static_match",
        "stream",
        "template",
    )

    def __init__(
        self,
        template: PathTemplate,
        handler: Handler,
        methods: Iterable[str],
        name: str | None,
        stream: bool,
        max_body_size: int | None,
    ) -> None:
        self.template = template
        self.handler = handler
        self.explicit = frozenset(m.upper() for m in methods)
        """The methods as declared."""
        auto = {"HEAD"} if "GET" in self.explicit else set()
        self.methods = self.explicit | auto
        """The methods answered (HEAD added where GET is)."""
        self.name = name
        self.stream = stream
        self.max_body_size = max_body_size
        self.owner: Router | None = None
        self.static_match: RouteMatch | None = None

    @property
    def path(self) -> str:
        """The template as written."""
        return self.template.template

    def __repr__(self) -> str:
        methods = ",".join(sorted(self.explicit))
        return f"<PathRoute {methods} {self.path} name={self.name!r}>"


class Mount:
    """A prefix whose requests go to a sub-router or to a handler."""

    __slots__ = ("name", "owner", "prefix", "target", "template")

    def __init__(self, template: PathTemplate, target: Router | Handler, name: str | None) -> None:
        self.template = template
        self.prefix = template.template
        self.target = target
        self.name = name
        self.owner: Router | None = None

    @property
    def path(self) -> str:
        """The prefix as written (without a trailing slash)."""
        return self.prefix

    def __repr__(self) -> str:
        return f"<Mount {self.prefix or '/'} name={self.name!r}>"


class RouteMatch:
    """The outcome of :meth:`Router.match`.

    ``target`` is the PathRoute or the Mount (of a handler) for FULL;
    ``params`` the converted path parameters (mount prefixes' included);
    ``root_path`` the prefix mounts consumed; ``allow`` the methods the path
    answers (PARTIAL); ``router`` the innermost router reached (whose owner
    answers 404 or 405).
    """

    __slots__ = ("allow", "match", "params", "root_path", "router", "target")

    def __init__(
        self,
        match: Match,
        target: PathRoute | Mount | None,
        params: Mapping[str, Any],
        root_path: str,
        allow: tuple[str, ...],
        router: Router,
    ) -> None:
        self.match = match
        self.target = target
        self.params = params
        self.root_path = root_path
        self.allow = allow
        self.router = router

    def __repr__(self) -> str:
        return (
            f"<RouteMatch {self.match.name} {self.target!r} params={dict(self.params)!r}"
            f" root_path={self.root_path!r} allow={self.allow!r}>"
        )


class _Sink:
    """Where :meth:`Router.match` collects what :meth:`Router.resolve` stores in a Request."""

    __slots__ = ("params", "root_path")

    def __init__(self) -> None:
        self.params: Mapping[str, Any] = _NO_PARAMS
        self.root_path = ""


class Router:
    """An ordered table of routes and mounts; ``owner`` is free for the layer above (the App)."""

    def __init__(self, owner: object = None) -> None:
        self.owner = owner
        self.routes: list[PathRoute | Mount] = []
        """Every route and mount, in the order added."""
        self.convertors: dict[str, Convertor] = dict(DEFAULT_CONVERTORS)
        self._static: dict[str, dict[str, PathRoute]] = {}
        self._dynamic: list[PathRoute | Mount] = []
        self._templates: dict[str, set[str]] = {}
        self._names: dict[str, PathRoute | Mount] = {}

    # -- building ------------------------------------------------------------------------
    def add_convertor(self, name: str, convertor: Convertor) -> None:
        """Make ``{param:name}`` available to the templates added after this call."""
        if not _NAME.match(name):
            raise ConfigError(f"invalid convertor name {name!r}")
        regex = getattr(convertor, "regex", None)
        if not isinstance(regex, str) or not callable(getattr(convertor, "convert", None)):
            raise ConfigError(f"convertor {name!r} needs a str 'regex' and 'convert'/'to_string'")
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"convertor {name!r}: bad regex {regex!r}: {exc}") from None
        if compiled.groups:
            raise ConfigError(f"convertor {name!r}: use (?:...) instead of groups in {regex!r}")
        self.convertors[name] = convertor

    def add(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
        stream: bool = False,
        max_body_size: int | None = -1,
    ) -> PathRoute:
        """Route ``methods`` (default GET, which brings HEAD) on the template ``path``."""
        template = PathTemplate(path, self.convertors)
        route = PathRoute(template, handler, methods or ("GET",), name, stream, max_body_size)
        if not route.explicit or not all(_METHOD.match(m) for m in route.explicit):
            raise ConfigError(f"route {path!r}: invalid methods {sorted(route.explicit)!r}")
        self._claim(path, route.explicit)
        self._name(route)
        route.owner = self
        if template.static:
            slots = self._static.setdefault(path, {})
            for method in route.methods:
                current = slots.get(method)
                if current is None or method not in current.explicit:
                    slots[method] = route
            route.static_match = RouteMatch(Match.FULL, route, _NO_PARAMS, "", (), self)
        else:
            self._dynamic.append(route)
        self.routes.append(route)
        return route

    def mount(self, prefix: str, target: Router | Handler, *, name: str | None = None) -> Mount:
        """Send every request under ``prefix`` (a template) to ``target``."""
        if target is self:
            raise ConfigError("a router cannot be mounted in itself")
        prefix = prefix.rstrip("/")
        mount = Mount(PathTemplate(prefix, self.convertors, prefix=True), target, name)
        self._name(mount)
        mount.owner = self
        self._dynamic.append(mount)
        self.routes.append(mount)
        return mount

    def _claim(self, path: str, methods: frozenset[str]) -> None:
        taken = self._templates.setdefault(path, set())
        twice = taken & methods
        if twice:
            raise ConfigError(f"route {path!r} already answers {sorted(twice)!r}")
        taken |= methods

    def _name(self, entry: PathRoute | Mount) -> None:
        if entry.name is None:
            return
        if ":" in entry.name:
            raise ConfigError(f"a route name may not hold ':' (mounts use it): {entry.name!r}")
        if entry.name in self._names:
            raise ConfigError(f"route name {entry.name!r} is already used")
        self._names[entry.name] = entry

    def has_name(self, name: str) -> bool:
        """Whether a route or mount of this router is called ``name``."""
        return name in self._names

    # -- matching -------------------------------------------------------------------------
    def match(self, method: str, path: str) -> RouteMatch:
        """Match ``method`` and the decoded ``path`` (see the module docstring for the order)."""
        slots = self._static.get(path)
        if slots is not None:
            route = slots.get(method)
            if route is not None:
                return route.static_match  # type: ignore[return-value]
        found = self.resolve(method, path, sink := _Sink())
        if isinstance(found, RouteMatch):
            return found
        owner = found.owner or self
        return RouteMatch(Match.FULL, found, sink.params, sink.root_path, (), owner)

    def resolve(self, method: str, path: str, sink: Any) -> PathRoute | Mount | RouteMatch:
        """The server's hot path: the target of a FULL match, else the PARTIAL or NONE match.

        For a FULL match the params and the mount prefix are stored in
        ``sink.params`` and ``sink.root_path`` (a Request), and only when
        not empty, so a match allocates nothing but its params dict.
        """
        slots = self._static.get(path)
        if slots is not None:
            route = slots.get(method)
            if route is not None:
                return route
        return self._search(method, path, "", slots, sink)

    def _search(
        self, method: str, path: str, root: str, slots: dict[str, PathRoute] | None, sink: Any
    ) -> PathRoute | Mount | RouteMatch:
        allow: set[str] = set(slots) if slots else set()
        deepest, deepest_root = self, root
        for entry in self._dynamic:
            template = entry.template
            m = template.regex.match(path)
            if m is None:
                continue
            params = m.groupdict()
            if template.needs_conversion and not template.convert(params):
                continue
            if type(entry) is PathRoute:
                if method in entry.methods:
                    if params:
                        sink.params = params
                    if root:
                        sink.root_path = root
                    return entry
                allow |= entry.methods
                continue
            found = self._enter(entry, method, path, root, m.end(), params, sink)  # type: ignore[arg-type]
            if not isinstance(found, RouteMatch):
                return found
            allow.update(found.allow)
            deepest, deepest_root = found.router, found.root_path
        if allow:
            allowed = tuple(sorted(allow))
            return RouteMatch(Match.PARTIAL, None, _NO_PARAMS, deepest_root, allowed, deepest)
        return RouteMatch(Match.NONE, None, _NO_PARAMS, deepest_root, (), deepest)

    def _enter(
        self,
        mount: Mount,
        method: str,
        path: str,
        root: str,
        end: int,
        params: dict[str, Any],
        sink: Any,
    ) -> PathRoute | Mount | RouteMatch:
        """Match the rest of ``path`` below ``mount``."""
        root = root + path[:end]
        target = mount.target
        if not isinstance(target, Router):
            if params:
                sink.params = params
            if root:
                sink.root_path = root
            return mount
        rest = path[end:] or "/"
        slots = target._static.get(rest)
        found: PathRoute | Mount | RouteMatch | None = (
            slots.get(method) if slots is not None else None
        )
        if found is None:
            found = target._search(method, rest, root, slots, sink)
            if isinstance(found, RouteMatch):
                return found
        elif root:
            sink.root_path = root
        if params:  # the prefix's own parameters come first
            sink.params = {**params, **sink.params}
        return found

    # -- reverse routing -------------------------------------------------------------------
    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` (``mount:route`` for nested ones).

        A plain name is looked up here first, then in mounted routers, in
        the order they were mounted. ConfigError when no route has the name,
        or a parameter is missing, extra or cannot be converted.
        """
        path = self.find_path(name, params)
        if path is None:
            raise ConfigError(f"no route is called {name!r}")
        return path

    def find_path(self, name: str, params: dict[str, Any]) -> str | None:
        """:meth:`url_for` that answers None when no route has the name."""
        head, sep, rest = name.partition(":")
        entry = self._names.get(head)
        if sep:
            if not isinstance(entry, Mount) or not isinstance(entry.target, Router):
                return None
            return self._through(entry, rest, params)
        if isinstance(entry, PathRoute):
            return _format_exact(entry.template, params)
        if isinstance(entry, Mount):
            return _format_mount(entry, params)
        for entry in self._dynamic:
            if isinstance(entry, Mount) and isinstance(entry.target, Router):
                path = self._through(entry, name, params, probe=True)
                if path is not None:
                    return path
        return None

    def _through(
        self, mount: Mount, name: str, params: dict[str, Any], probe: bool = False
    ) -> str | None:
        target = mount.target
        assert isinstance(target, Router)
        if probe and not target._knows(name):
            return None
        own = {k: params[k] for k in mount.template.names if k in params}
        inner = {k: v for k, v in params.items() if k not in own}
        sub = target.find_path(name, inner)
        if sub is None:
            return None
        return mount.template.format(own) + sub

    def _knows(self, name: str) -> bool:
        if name.partition(":")[0] in self._names:
            return True
        return any(
            isinstance(e, Mount) and isinstance(e.target, Router) and e.target._knows(name)
            for e in self._dynamic
        )

    def __repr__(self) -> str:
        return f"<Router {len(self.routes)} routes>"


def _format_exact(template: PathTemplate, params: Mapping[str, Any]) -> str:
    extra = set(params) - set(template.names)
    if extra:
        raise ConfigError(f"{template.template!r} takes no parameter {sorted(extra)!r}")
    return template.format(params)


def _format_mount(mount: Mount, params: Mapping[str, Any]) -> str:
    """A named mount of a handler: the prefix, then ``path`` (the handler's own path) if given."""
    own = {k: v for k, v in params.items() if k != "path"}
    prefix = _format_exact(mount.template, own)
    sub = str(params.get("path", "/"))
    return prefix + "/" + quote(sub.lstrip("/"), safe=_SEGMENT_SAFE + "/")
