"""The route table alone (evweb.http.routing): templates, convertors, 404/405, mounts, url_for."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from evweb.errors import ConfigError
from evweb.http.routing import (
    FloatConvertor,
    IntConvertor,
    Match,
    Mount,
    PathRoute,
    PathTemplate,
    Router,
    UUIDConvertor,
)


def h(request: Any) -> None:  # a handler that is never called here
    return None


def h2(request: Any) -> None:
    return None


# -- templates ------------------------------------------------------------------------------
def test_static_template_has_no_params() -> None:
    router = Router()
    t = PathTemplate("/about/us", router.convertors)
    assert t.static and t.names == ()
    assert t.match("/about/us") == (9, {})
    assert t.match("/about/us/") is None
    assert t.format({}) == "/about/us"


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("/users/{id}", "/users/bob", {"id": "bob"}),
        ("/users/{id:str}", "/users/b%20b", {"id": "b%20b"}),
        ("/users/{id:int}", "/users/42", {"id": 42}),
        ("/price/{p:float}", "/price/12.5", {"p": 12.5}),
        ("/price/{p:float}", "/price/12", {"p": 12.0}),
        ("/files/{rest:path}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("/files/{rest:path}", "/files/", {"rest": ""}),
        ("/a/{x}/b/{y:int}", "/a/1/b/2", {"x": "1", "y": 2}),
        ("/{name}.json", "/report.json", {"name": "report"}),
    ],
)
def test_templates_match_and_convert(template: str, path: str, params: dict[str, Any]) -> None:
    found = PathTemplate(template, Router().convertors).match(path)
    assert found is not None
    assert found[1] == params


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/users/{id}", "/users/"),
        ("/users/{id}", "/users/a/b"),
        ("/users/{id:int}", "/users/x1"),
        ("/users/{id:int}", "/users/-1"),
        ("/price/{p:float}", "/price/1e5"),
        ("/price/{p:float}", "/price/.5"),
        ("/o/{u:uuid}", "/o/not-a-uuid"),
        ("/a.b", "/aXb"),  # literals are escaped
    ],
)
def test_templates_refuse(template: str, path: str) -> None:
    assert PathTemplate(template, Router().convertors).match(path) is None


def test_uuid_convertor() -> None:
    u = uuid.uuid4()
    found = PathTemplate("/o/{u:uuid}", Router().convertors).match(f"/o/{str(u).upper()}")
    assert found is not None and found[1] == {"u": u}
    assert UUIDConvertor().to_string(u) == str(u)


@pytest.mark.parametrize(
    "template",
    [
        "users",  # no leading slash
        "/users/{id",
        "/users/id}",
        "/users/{}",
        "/users/{1x}",
        "/users/{id:nope}",
        "/users/{id}/{id}",
        "/users/{a-b}",
    ],
)
def test_bad_templates_are_config_errors(template: str) -> None:
    with pytest.raises(ConfigError):
        Router().add(template, h)


def test_float_and_int_to_string() -> None:
    assert FloatConvertor().to_string(12.5) == "12.5"
    assert FloatConvertor().to_string(3.0) == "3"
    assert FloatConvertor().to_string(0.1) == "0.1"
    for bad in (-1.0, float("nan"), float("inf"), "x", True):
        with pytest.raises(ValueError):
            FloatConvertor().to_string(bad)
    for bad in (-1, 1.5, "3", False):
        with pytest.raises(ValueError):
            IntConvertor().to_string(bad)


# -- matching --------------------------------------------------------------------------------
def test_static_route_full_match_allocates_nothing() -> None:
    router = Router()
    route = router.add("/", h)
    first = router.match("GET", "/")
    assert first.match is Match.FULL and first.target is route
    assert router.match("GET", "/") is first  # the same prebuilt object every time
    assert dict(first.params) == {} and first.root_path == ""


def test_get_brings_head_but_not_the_reverse() -> None:
    router = Router()
    router.add("/g", h, ["GET"])
    router.add("/h", h, ["HEAD"])
    assert router.match("HEAD", "/g").match is Match.FULL
    m = router.match("GET", "/h")
    assert m.match is Match.PARTIAL and m.allow == ("HEAD",)


def test_wrong_method_is_partial_with_allow() -> None:
    router = Router()
    router.add("/items", h, ["GET"])
    router.add("/items", h2, ["POST"])
    router.add("/items/{id:int}", h, ["DELETE", "put"])
    m = router.match("PATCH", "/items")
    assert m.match is Match.PARTIAL and m.target is None
    assert m.allow == ("GET", "HEAD", "POST")
    m = router.match("GET", "/items/3")
    assert m.match is Match.PARTIAL and m.allow == ("DELETE", "PUT")
    assert router.match("PUT", "/items/3").match is Match.FULL


def test_unknown_path_is_none() -> None:
    router = Router()
    router.add("/items/{id:int}", h)
    assert router.match("GET", "/items/x").match is Match.NONE
    assert router.match("GET", "/other").match is Match.NONE


def test_static_path_beats_templates_and_templates_go_in_order() -> None:
    router = Router()
    first = router.add("/u/{name}", h)
    second = router.add("/u/{id:int}", h2)
    me = router.add("/u/me", h2)
    assert router.match("GET", "/u/me").target is me
    assert router.match("GET", "/u/7").target is first  # declared first wins
    assert second.template.match("/u/7") is not None


def test_template_partial_then_later_full_wins() -> None:
    router = Router()
    router.add("/x/{a}", h, ["POST"])
    later = router.add("/x/{b}", h2, ["GET"])
    m = router.match("GET", "/x/1")
    assert m.match is Match.FULL and m.target is later and dict(m.params) == {"b": "1"}


def test_static_partial_then_template_full() -> None:
    router = Router()
    router.add("/a/b", h, ["POST"])
    templated = router.add("/a/{x}", h2, ["GET"])
    assert router.match("GET", "/a/b").target is templated
    assert router.match("PUT", "/a/b").allow == ("GET", "HEAD", "POST")


def test_explicit_head_overrides_the_automatic_one() -> None:
    router = Router()
    router.add("/r", h, ["GET"])
    head = router.add("/r", h2, ["HEAD"])
    assert router.match("HEAD", "/r").target is head
    with pytest.raises(ConfigError, match="already answers"):
        router.add("/r", h, ["GET", "POST"])


def test_duplicate_route_and_names_are_config_errors() -> None:
    router = Router()
    router.add("/a/{x}", h, ["GET"], name="a")
    with pytest.raises(ConfigError):
        router.add("/a/{x}", h2, ["GET"])
    with pytest.raises(ConfigError, match="already used"):
        router.add("/b", h, name="a")
    with pytest.raises(ConfigError):
        router.add("/c", h, name="x:y")
    with pytest.raises(ConfigError):
        router.add("/c", h, ["G T"])


def test_convertor_value_error_means_no_match() -> None:
    class Even:
        regex = "[0-9]+"

        def convert(self, value: str) -> int:
            n = int(value)
            if n % 2:
                raise ValueError("odd")
            return n

        def to_string(self, value: Any) -> str:
            return str(value)

    router = Router()
    router.add_convertor("even", Even())
    router.add("/n/{n:even}", h)
    assert router.match("GET", "/n/4").params == {"n": 4}
    assert router.match("GET", "/n/3").match is Match.NONE


def test_user_convertor_with_reverse_routing() -> None:
    import datetime

    class DateConvertor:
        regex = "[0-9]{4}-[0-9]{2}-[0-9]{2}"

        def convert(self, value: str) -> datetime.date:
            return datetime.date.fromisoformat(value)

        def to_string(self, value: Any) -> str:
            return str(value.isoformat())

    router = Router()
    router.add_convertor("date", DateConvertor())
    router.add("/day/{d:date}", h, name="day")
    assert router.match("GET", "/day/2024-02-29").params == {"d": datetime.date(2024, 2, 29)}
    assert router.match("GET", "/day/2023-02-29").match is Match.NONE  # not a date
    assert router.url_for("day", d=datetime.date(2024, 1, 2)) == "/day/2024-01-02"


def test_bad_convertors_are_refused() -> None:
    router = Router()

    class Grouped:
        regex = "(a|b)"

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: Any) -> str:
            return str(value)

    with pytest.raises(ConfigError, match="groups"):
        router.add_convertor("g", Grouped())
    with pytest.raises(ConfigError):
        router.add_convertor("x", object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        router.add_convertor("bad name", IntConvertor())


# -- mounts ------------------------------------------------------------------------------------
def test_mount_a_handler() -> None:
    router = Router()
    mount = router.mount("/static/", h)
    assert isinstance(mount, Mount) and mount.prefix == "/static"
    for path, rest in [("/static/css/a.css", "/css/a.css"), ("/static", ""), ("/static/", "/")]:
        m = router.match("POST", path)
        assert m.match is Match.FULL and m.target is mount
        assert m.root_path == "/static"
        assert path[len(m.root_path) :] == rest
    assert router.match("GET", "/staticfoo").match is Match.NONE


def test_mount_a_router() -> None:
    api = Router()
    users = api.add("/users/{id:int}", h, name="user")
    index = api.add("/", h2, name="index")
    router = Router()
    router.add("/", h, name="home")
    router.mount("/api", api, name="api")
    m = router.match("GET", "/api/users/5")
    assert m.match is Match.FULL and m.target is users
    assert m.params == {"id": 5} and m.root_path == "/api" and m.router is api
    assert router.match("GET", "/api").target is index
    assert router.match("GET", "/api/").target is index
    m = router.match("POST", "/api/users/5")
    assert m.match is Match.PARTIAL and m.allow == ("GET", "HEAD")
    m = router.match("GET", "/api/nothing")
    assert m.match is Match.NONE and m.router is api and m.root_path == "/api"


def test_templated_mount_prefix_params_are_merged() -> None:
    sub = Router()
    sub.add("/items/{item}", h, name="item")
    router = Router()
    router.mount("/v{version:int}", sub, name="v")
    m = router.match("GET", "/v2/items/x")
    assert m.params == {"version": 2, "item": "x"} and m.root_path == "/v2"
    assert router.url_for("v:item", version=3, item="y") == "/v3/items/y"
    assert router.url_for("item", version=3, item="y") == "/v3/items/y"


def test_mount_without_a_match_falls_through() -> None:
    sub = Router()
    sub.add("/only", h)
    router = Router()
    router.mount("/", sub)
    late = router.add("/late/{x}", h2)
    assert router.match("GET", "/only").match is Match.FULL
    assert router.match("GET", "/late/1").target is late
    assert router.match("GET", "/nope").match is Match.NONE


def test_cannot_mount_in_itself() -> None:
    router = Router()
    with pytest.raises(ConfigError):
        router.mount("/x", router)


# -- url_for -------------------------------------------------------------------------------------
def test_url_for_formats_and_quotes() -> None:
    router = Router()
    router.add("/users/{name}", h, name="user")
    router.add("/files/{p:path}", h, name="file")
    router.add("/n/{n:int}/{f:float}", h, name="nums")
    assert router.url_for("user", name="bé") == "/users/b%C3%A9"
    with pytest.raises(ConfigError):
        router.url_for("user", name="a/b")  # a str parameter cannot hold '/'
    assert router.url_for("user", name="a b?") == "/users/a%20b%3F"
    assert router.url_for("file", p="dir/x y.txt") == "/files/dir/x%20y.txt"
    assert router.url_for("nums", n=3, f=1.5) == "/n/3/1.5"


def test_url_for_errors() -> None:
    router = Router()
    router.add("/users/{id:int}", h, name="user")
    with pytest.raises(ConfigError, match="no route"):
        router.url_for("nobody")
    with pytest.raises(ConfigError, match="needs the parameter"):
        router.url_for("user")
    with pytest.raises(ConfigError, match="takes no parameter"):
        router.url_for("user", id=1, extra=2)
    with pytest.raises(ConfigError):
        router.url_for("user", id="seven")


def test_url_for_a_mounted_handler() -> None:
    router = Router()
    router.mount("/static", h, name="static")
    assert router.url_for("static", path="css/a b.css") == "/static/css/a%20b.css"
    assert router.url_for("static") == "/static/"


def test_url_for_nested_mounts() -> None:
    inner = Router()
    inner.add("/leaf/{x}", h, name="leaf")
    middle = Router()
    middle.mount("/in", inner, name="inner")
    router = Router()
    router.mount("/mid", middle, name="middle")
    assert router.url_for("middle:inner:leaf", x="1") == "/mid/in/leaf/1"
    assert router.url_for("leaf", x="1") == "/mid/in/leaf/1"
    assert router.match("GET", "/mid/in/leaf/1").root_path == "/mid/in"
    with pytest.raises(ConfigError):
        router.url_for("middle:nope")


def test_routes_are_listed_in_order() -> None:
    router = Router()
    a = router.add("/a", h)
    m = router.mount("/m", h2)
    b = router.add("/b/{x}", h)
    assert router.routes == [a, m, b]
    assert isinstance(a, PathRoute) and a.path == "/a" and "GET" in repr(a)


def test_resolve_stores_params_in_the_sink_only_when_there_are_some() -> None:
    class Sink:
        def __init__(self) -> None:
            self.params: Any = "untouched"
            self.root_path = "untouched"

    api = Router()
    leaf = api.add("/items/{id:int}", h)
    static = api.add("/about", h)
    router = Router()
    top = router.add("/", h)
    router.mount("/v{n:int}", api)
    sink = Sink()
    assert router.resolve("GET", "/", sink) is top
    assert (sink.params, sink.root_path) == ("untouched", "untouched")
    sink = Sink()
    sink.params = {}
    assert router.resolve("GET", "/v1/about", sink) is static
    assert (sink.params, sink.root_path) == ({"n": 1}, "/v1")
    sink = Sink()
    assert router.resolve("GET", "/v2/items/5", sink) is leaf
    assert (sink.params, sink.root_path) == ({"n": 2, "id": 5}, "/v2")
    sink = Sink()
    refused = router.resolve("POST", "/v2/items/5", sink)
    assert not isinstance(refused, PathRoute) and refused.match is Match.PARTIAL
    assert (sink.params, sink.root_path) == ("untouched", "untouched")
