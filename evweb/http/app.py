"""App: the web-framework layer: routes, middleware, exception handlers, mounts, templates.

::

    app = App(templates="templates")

    @app.get("/users/{id:int}", name="user")
    def user(request):
        return {"id": request.params["id"]}          # JSON

    app.attach(server)                               # serve it on an HTTPServer

A handler takes the :class:`~evweb.http.Request` and returns a
:class:`~evweb.http.responses.Response`, a ``str`` (text/plain), ``bytes``,
a ``dict`` or ``list`` (JSON), a :class:`~evweb.http.responses.Template`,
or None after answering with the low-level API (now or later).

The request path through an attached App::

    server.resolve --> Router.match (dict, then regexes) --> cached server Route
    Route.handler = runner: request.route = match; response = app.handle(request)
        app.handle = middleware_n(... middleware_1(boundary))
        boundary: handler(request) (or the mounted App's handle), HTTPException
                  and registered exception classes --> Response
    response.send(request); anything else raised: logged, 500

Why it is shaped this way:

* The route lookup happens when the head arrives, in the server's
  ``router`` hook, so a route's ``stream`` and ``max_body_size`` apply
  before the body is read. A route's server Route (and the bound method the
  server calls) is built once and cached: a request allocates nothing for
  routing beyond its params dict.
* Middleware is plain composition: ``add_middleware(fn)`` with
  ``fn(call_next) -> handler``, called once when the App first serves; a
  handler here takes a Request and returns a Response or None. With no
  middleware the chain is the boundary alone.
* A mounted App keeps its own middleware and exception handlers inside
  its parent's: the parent's middleware sees every request below it, the
  sub-app answers its own HTTPExceptions (404 and 405 included).
* Exceptions: an :class:`~evweb.errors.HTTPException` (or a class given to
  :meth:`App.exception_handler`) becomes a response inside the middleware;
  anything else is logged with its traceback on ``evweb.http.app`` and
  answered 500 (the traceback is sent only with ``debug=True``). Once a
  reply has started nothing can be answered: the exception goes to the
  server, which logs it and drops the connection.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from evweb.errors import ConfigError, HTTPException
from evweb.http.config import ServerConfig
from evweb.http.responses import (
    HTMLResponse,
    Response,
    Template,
    TextResponse,
    error_response,
    to_response,
)
from evweb.http.routing import (
    Convertor,
    Match,
    Mount,
    PathRoute,
    PathTemplate,
    RouteMatch,
    Router,
)

if TYPE_CHECKING:
    import jinja2

    from evweb.http.request import Request
    from evweb.http.server import HTTPServer, Route

log = logging.getLogger("evweb.http.app")

CallNext = Callable[["Request"], "Response | None"]
"""What middleware wraps: a Request in, a Response (or None: already answered) out."""
Middleware = Callable[[CallNext], CallNext]
"""``middleware(call_next) -> handler``."""
ExceptionHandler = Callable[["Request", Any], Any]
"""``handler(request, exc)``: returns what a route handler would."""
F = TypeVar("F", bound=Callable[..., Any])

_ERROR_TEMPLATE = PathTemplate("/", {})


class App:
    """A web application: a route table, middleware, exception handlers and hooks.

    ``config`` is the ServerConfig a runner should serve it with;
    ``templates`` a directory of jinja2 templates (autoescaped);
    ``debug=True`` sends tracebacks in 500 answers (never in production).
    """

    def __init__(
        self,
        *,
        config: ServerConfig | None = None,
        templates: str | Path | None = None,
        debug: bool = False,
    ) -> None:
        self.config = config
        self.debug = debug
        self.router = Router(owner=self)
        self.templates: jinja2.Environment | None = None
        """The jinja2 environment (None without ``templates``)."""
        if templates is not None:
            self.templates = _environment(Path(templates), self)
        self.parent: App | None = None
        """The App this one is mounted in."""
        self.server: HTTPServer | None = None
        """The server the App was last attached to."""
        self._middleware: list[Middleware] = []
        self._status_handlers: dict[int, ExceptionHandler] = {}
        self._class_handlers: dict[type[BaseException], ExceptionHandler] = {}
        self._startup: list[Callable[[], object]] = []
        self._shutdown: list[Callable[[], object]] = []
        self._children: list[App] = []
        self._handle: CallNext = self._boundary
        self._frozen = False
        self._not_found: PathRoute | None = None

    # -- routes ----------------------------------------------------------------------------
    def route(
        self,
        path: str,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
        stream: bool = False,
        max_body_size: int | None = -1,
    ) -> Callable[[F], F]:
        """Decorator: route ``methods`` (default GET, which brings HEAD) on ``path`` to ``fn``.

        ``name`` (default: the function's name, when free) is for
        :meth:`url_for`. ``stream=True`` calls the handler at the head and
        leaves the body to ``request.read_body``; ``max_body_size`` is the
        body limit (-1: the server's, None: none).
        """

        def decorator(fn: F) -> F:
            self.add_route(path, fn, methods, name=name, stream=stream, max_body_size=max_body_size)
            return fn

        return decorator

    def add_route(
        self,
        path: str,
        handler: Callable[[Request], Any],
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
        stream: bool = False,
        max_body_size: int | None = -1,
    ) -> PathRoute:
        """Route without a decorator; see :meth:`route`."""
        if name is None:
            default = getattr(handler, "__name__", "")
            if default.isidentifier() and not self.router.has_name(default):
                name = default
        return self.router.add(
            path, handler, methods, name=name, stream=stream, max_body_size=max_body_size
        )

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """``route(path, ["GET"], ...)`` (HEAD comes with it)."""
        return self.route(path, ("GET",), **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """``route(path, ["POST"], ...)``."""
        return self.route(path, ("POST",), **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        """``route(path, ["PUT"], ...)``."""
        return self.route(path, ("PUT",), **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """``route(path, ["DELETE"], ...)``."""
        return self.route(path, ("DELETE",), **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """``route(path, ["PATCH"], ...)``."""
        return self.route(path, ("PATCH",), **options)

    def mount(
        self, prefix: str, target: App | Callable[[Request], Any], *, name: str | None = None
    ) -> Mount:
        """Serve everything under ``prefix`` with another App or a handler.

        A handler finds its own path as ``request.path[len(request.root_path):]``
        and answers any method. An App can be mounted in one parent only.
        """
        if isinstance(target, App):
            if self._is_below(target):
                raise ConfigError("an App cannot be mounted in itself or below itself")
            if target.parent is not None and target.parent is not self:
                raise ConfigError("this App is already mounted in another App")
            if self._frozen:
                target._freeze()
            mount = self.router.mount(prefix, target.router, name=name)
            target.parent = self
            if target not in self._children:
                self._children.append(target)
            return mount
        if not callable(target):
            raise ConfigError(f"mount() needs an App or a handler, got {target!r}")
        return self.router.mount(prefix, target, name=name)

    def _is_below(self, other: App) -> bool:
        app: App | None = self
        while app is not None:
            if app is other:
                return True
            app = app.parent
        return False

    def add_convertor(self, name: str, convertor: Convertor) -> None:
        """Make ``{param:name}`` available to the routes added after this call."""
        self.router.add_convertor(name, convertor)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` (``mount:route`` for a mounted App's routes).

        On a mounted App the path includes the prefixes it is mounted under,
        and names it does not know are looked up from the top-level App.
        ConfigError for an unknown name or a missing or extra parameter.
        """
        path = self.router.find_path(name, params)
        if path is not None:
            return self._prefix() + path
        if self.parent is not None:
            root = self.parent
            while root.parent is not None:
                root = root.parent
            return root.url_for(name, **params)
        raise ConfigError(f"no route is called {name!r}")

    def _prefix(self) -> str:
        parent = self.parent
        if parent is None:
            return ""
        for entry in parent.router.routes:
            if isinstance(entry, Mount) and entry.target is self.router:
                return parent._prefix() + entry.template.format({})
        return ""  # pragma: no cover - parent is only set by mount()

    # -- middleware, errors, hooks -----------------------------------------------------------
    def add_middleware(self, middleware: Middleware) -> Middleware:
        """Wrap the App's handling: ``middleware(call_next)`` returns a handler.

        The handler takes the request and returns a Response (or None when
        the request was answered another way), usually
        ``call_next(request)``'s, perhaps changed. The last added runs
        first. Add middleware before the App serves; this returns its
        argument, so it works as a decorator.
        """
        if self._frozen:
            raise ConfigError("add middleware before the App serves requests")
        self._middleware.append(middleware)
        return middleware

    def exception_handler(self, key: int | type[BaseException]) -> Callable[[F], F]:
        """Decorator: ``handler(request, exc)`` answers HTTPExceptions of status ``key``.

        With a class as ``key`` it answers exceptions of that class (inside
        the middleware). ``500`` is for exceptions nobody handled, after
        they were logged; it runs outside the middleware.
        """

        def decorator(fn: F) -> F:
            if isinstance(key, int):
                self._status_handlers[key] = fn
            elif isinstance(key, type) and issubclass(key, BaseException):
                self._class_handlers[key] = fn
            else:
                raise ConfigError(f"exception_handler() takes a status or a class, got {key!r}")
            return fn

        return decorator

    def on_startup(self, fn: F) -> F:
        """Decorator: run ``fn()`` in :meth:`startup`, before the first request."""
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Decorator: run ``fn()`` in :meth:`shutdown`, after the last request."""
        self._shutdown.append(fn)
        return fn

    def startup(self) -> None:
        """Run the startup hooks in order, then those of mounted Apps; the first error stops it."""
        self._freeze()
        for hook in self._startup:
            hook()
        for child in self._children:
            child.startup()

    def shutdown(self) -> None:
        """Run the shutdown hooks of mounted Apps, then this App's in order; errors are logged."""
        for child in self._children:
            child.shutdown()
        for hook in self._shutdown:
            try:
                hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)

    # -- templates ---------------------------------------------------------------------------
    def render(self, name: str, /, *, status: int = 200, **context: Any) -> Response:
        """The template ``name`` rendered with ``context``, as an HTML response."""
        text = self._environment().get_template(name).render(context)
        return HTMLResponse(text, status)

    def _environment(self) -> jinja2.Environment:
        app: App | None = self
        while app is not None:
            if app.templates is not None:
                return app.templates
            app = app.parent
        raise ConfigError("no templates: create the App with App(templates='dir')")

    # -- serving -------------------------------------------------------------------------------
    def attach(self, server: HTTPServer) -> None:
        """Serve this App on ``server`` (as its router: ``set_cb`` callbacks still come first)."""
        if self.parent is not None:
            raise ConfigError("attach the top-level App, not a mounted one")
        self._freeze()
        server.router = _Dispatcher(self, server).route
        self.server = server

    def _freeze(self) -> None:
        if self._frozen:
            return
        handle: CallNext = self._boundary
        for middleware in self._middleware:
            handle = middleware(handle)
        self._handle = handle
        self._frozen = True
        for child in self._children:
            child._freeze()

    def _boundary(self, request: Request) -> Response | None:
        """Call the handler (or the mounted App on the way to it); exceptions to responses."""
        target = request.route
        try:
            owner = target.owner.owner
            if owner is self:
                handler = target.handler if type(target) is PathRoute else target.target
                result = handler(request)
                if result is None or isinstance(result, Response):
                    return result
            else:
                return self._child_towards(owner)._handle(request)
        except HTTPException as exc:
            result = self._http_exception(request, exc)
        except Exception as exc:
            handler = self._class_handler(exc)
            if handler is None:
                raise
            result = handler(request, exc)
        return self._to_response(result)

    def _child_towards(self, owner: App) -> App:
        app = owner
        while app.parent is not self:
            assert app.parent is not None
            app = app.parent
        return app

    def _to_response(self, result: object) -> Response | None:
        if isinstance(result, Template):
            return result.render(self._environment())
        return to_response(result)

    def _http_exception(self, request: Request, exc: HTTPException) -> object:
        handler = self._status_handlers.get(exc.status)
        if handler is not None:
            return handler(request, exc)
        return error_response(exc.status, exc.detail, exc.headers)

    def _class_handler(self, exc: Exception) -> ExceptionHandler | None:
        handlers = self._class_handlers
        if handlers:
            for cls in type(exc).__mro__:
                handler = handlers.get(cls)
                if handler is not None:
                    return handler
        return None

    def _failed(self, request: Request, exc: Exception) -> None:
        """An exception nobody handled: log it and answer 500 (or leave it to the server)."""
        if request.replied:
            raise exc
        log.error("%s %s: the handler raised", request.method, request.target, exc_info=exc)
        self._server_error(request, exc).send(request)

    def _server_error(self, request: Request, exc: Exception) -> Response:
        handler = self._status_handlers.get(500)
        if handler is not None:
            try:
                response = self._to_response(handler(request, exc))
                if response is not None:
                    return response
            except Exception:
                log.exception("the 500 handler raised")
        if self.debug:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return TextResponse(text, 500)
        return TextResponse("Internal Server Error", 500)

    def _not_found_route(self) -> PathRoute:
        if self._not_found is None:
            self._not_found = _synthetic(self, _raise_not_found)
        return self._not_found

    def __repr__(self) -> str:
        return f"<App {len(self.router.routes)} routes>"


def _synthetic(app: App, handler: Callable[[Request], Any]) -> PathRoute:
    """A route outside the table (404, 405) answered by ``app``."""
    route = PathRoute(_ERROR_TEMPLATE, handler, ("GET",), None, False, -1)
    route.owner = app.router
    return route


def _raise_not_found(request: Request) -> None:
    raise HTTPException(404)


class _MethodNotAllowed:
    """The handler of a path that other methods answer: 405, or 204 for OPTIONS."""

    __slots__ = ("allow",)

    def __init__(self, allow: Iterable[str]) -> None:
        self.allow = ", ".join(sorted({*allow, "OPTIONS"}))

    def __call__(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(b"", 204, [("Allow", self.allow)])
        raise HTTPException(405, headers=[("Allow", self.allow)])


class _Runner:
    """What the server calls for one route of an attached App (a bound method, built once)."""

    __slots__ = ("app", "handle", "target")

    def __init__(self, app: App, target: PathRoute | Mount) -> None:
        self.app = app
        self.target = target
        self.handle = app._handle

    def run(self, request: Request) -> None:
        request.route = self.target
        try:
            response = self.handle(request)
            if response is not None:
                response.send(request)
        except Exception as exc:
            self.app._failed(request, exc)


class _Dispatcher:
    """An App attached to a server: the server's router hook and its cache of server Routes."""

    __slots__ = ("app", "not_found", "resolve", "routes", "server")

    def __init__(self, app: App, server: HTTPServer) -> None:
        self.app = app
        self.server = server
        self.resolve = app.router.resolve
        self.routes: dict[Any, Route] = {}
        self.not_found: dict[App, Route] = {}

    def route(self, request: Request) -> Route:
        """The server's router hook: the cached Route of what matched (params set on request)."""
        found = self.resolve(request.method, request.path, request)
        route = self.routes.get(found)
        if route is not None:
            return route
        if isinstance(found, RouteMatch):
            return self._refusal(request, found)
        return self._build(found)

    def _build(self, target: PathRoute | Mount) -> Route:
        runner = _Runner(self.app, target)
        if isinstance(target, PathRoute):
            route = self.server.make_route(runner.run, target.stream, target.max_body_size)
        else:
            route = self.server.make_route(runner.run)
        self.routes[target] = route
        return route

    def _refusal(self, request: Request, match: RouteMatch) -> Route:
        """404, or 405 with Allow (204 for OPTIONS), answered by the innermost App reached."""
        if match.root_path:
            request.root_path = match.root_path
        owner = match.router.owner
        app = owner if isinstance(owner, App) else self.app
        if match.match is Match.NONE:
            route = self.not_found.get(app)
            if route is None:
                route = self.server.make_route(_Runner(self.app, app._not_found_route()).run)
                self.not_found[app] = route
            return route
        refusal = _synthetic(app, _MethodNotAllowed(match.allow))
        return self.server.make_route(_Runner(self.app, refusal).run)


def _environment(directory: Path, app: App) -> jinja2.Environment:
    import jinja2

    if not directory.is_dir():
        raise ConfigError(f"templates directory {str(directory)!r} does not exist")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=True)
    env.globals["url_for"] = app.url_for
    return env
