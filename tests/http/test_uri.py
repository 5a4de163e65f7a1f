"""evweb.http.uri: libevent's regress_http.c tables (parse_uri, _nc, _un, _un_nc, uriencode,
parse_query_str(_flags), primitives) plus RFC 3986 §5.4 resolution and hypothesis properties.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evweb.errors import InvalidURIError
from evweb.http import URI, MultiDict, URIFlags, htmlescape, parse_query_str, uridecode, uriencode

NC = URIFlags.NONCONFORMANT
UN = URIFlags.UNIX_SOCKET
FLAVOURS = {"plain": URIFlags.NONE, "nc": NC, "un": UN, "un_nc": UN | NC}

# regress_http.c http_parse_uri_test: NCF (accepted only with NONCONFORMANT) and BAD.
NCF = [
    "http://www.test.com/ why hello",
    "http://www.test.com/why-hello\x01",
    "http://www.test.com/why-hello?\x01",
    "http://www.test.com/why-hello#\x01",
    "http://www.test.com/why-hell%7o",
    "http://www.test.com/why-hello%7",
    "http://www.test.com/foo?ba%r",
    "http://www.test.com/foo#ba%r",
]
BAD = [
    "http://www.\x01.test.com/why-hello",
    "http://www.%7test.com/why-hello",
    "h%3ttp://www.test.com/why-hello",
    "99:99/foo",
    "http://www.test.com:999x/",
    "http://www.test.com:x/",
    "http://[hello-there]/",
    "http://[::1]]/",
    "http://[::1/",
    "http://[foob/",
    "http://[/",
    "http://[ffff:ffff:ffff:ffff:Ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]/",
    "http://[vX.foo]/",
    "http://[v.foo]/",
    "http://[v5.fo%o]/",
    "http://[v5X]/",
    "http://[v5]/",
    "http://[]/",
    "http://f\x01red@www.example.com/",
    "http://f%0red@www.example.com/",
    "http://www.example.com:9999999999999999999999999999999999999/",
    "http://www.example.com:hihi/",
    "://www.example.com/",
]
UNI = [
    "http://unix:/tmp/foobar/:/foo",
    "http://user:pass@unix:/tmp/foobar/:/foo",
    "http://unix:a:",
]

# (text, scheme, userinfo, host, port, path, query, fragment, joined)
VALID = [
    ("http://www.test.com/?q=t%33est", "http", None, "www.test.com", None, "/", "q=t%33est", None,
     "http://www.test.com/?q=t%33est"),
    ("http://%77ww.test.com", "http", None, "%77ww.test.com", None, "", None, None,
     "http://%77ww.test.com"),
    ("http://www.test.com?q=test", "http", None, "www.test.com", None, "", "q=test", None,
     "http://www.test.com?q=test"),
    ("http://www.test.com#fragment", "http", None, "www.test.com", None, "", None, "fragment",
     "http://www.test.com#fragment"),
    ("http://8000/", "http", None, "8000", None, "/", None, None, "http://8000/"),
    ("http://:8000/", "http", None, "", 8000, "/", None, None, "http://:8000/"),
    ("http://www.test.com:/", "http", None, "www.test.com", None, "/", None, None,
     "http://www.test.com/"),
    ("http://www.test.com:", "http", None, "www.test.com", None, "", None, None,
     "http://www.test.com"),
    ("ftp://www.test.com/?q=test", "ftp", None, "www.test.com", None, "/", "q=test", None,
     "ftp://www.test.com/?q=test"),
    ("ftp://[::1]:999/?q=test", "ftp", None, "[::1]", 999, "/", "q=test", None,
     "ftp://[::1]:999/?q=test"),
    ("ftp://[ff00::127.0.0.1]/?q=test", "ftp", None, "[ff00::127.0.0.1]", None, "/", "q=test",
     None, "ftp://[ff00::127.0.0.1]/?q=test"),
    ("ftp://[v99.not_(any:time)_soon]/?q=test", "ftp", None, "[v99.not_(any:time)_soon]", None,
     "/", "q=test", None, "ftp://[v99.not_(any:time)_soon]/?q=test"),
    ("scheme://user:pass@foo.com:42/?q=test&s=some+thing#fragment", "scheme", "user:pass",
     "foo.com", 42, "/", "q=test&s=some+thing", "fragment",
     "scheme://user:pass@foo.com:42/?q=test&s=some+thing#fragment"),
    ("scheme://user@foo.com/#fragment", "scheme", "user", "foo.com", None, "/", None, "fragment",
     "scheme://user@foo.com/#fragment"),
    ("scheme://%75ser@foo.com/#frag@ment", "scheme", "%75ser", "foo.com", None, "/", None,
     "frag@ment", "scheme://%75ser@foo.com/#frag@ment"),
    ("file:///some/path/to/the/file", "file", None, "", None, "/some/path/to/the/file", None, None,
     "file:///some/path/to/the/file"),
    ("///some/path/to/the-file", None, None, "", None, "/some/path/to/the-file", None, None,
     "///some/path/to/the-file"),
    ("/s:ome/path/to/the-file?q=99#fred", None, None, None, None, "/s:ome/path/to/the-file",
     "q=99", "fred", "/s:ome/path/to/the-file?q=99#fred"),
    ("relative/path/with/co:lon", None, None, None, None, "relative/path/with/co:lon", None, None,
     "relative/path/with/co:lon"),
    ("bob?q=99&q2=q?33#fr?ed", None, None, None, None, "bob", "q=99&q2=q?33", "fr?ed",
     "bob?q=99&q2=q?33#fr?ed"),
    ("#fr?ed", None, None, None, None, "", None, "fr?ed", "#fr?ed"),
    ("mailto:foo@bar", "mailto", None, None, None, "foo@bar", None, None, "mailto:foo@bar"),
]  # fmt: skip


# --- parse_uri / parse_uri_nc / parse_uri_un / parse_uri_un_nc ---------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("text", NCF)
def test_nonconformant_cases(flavour: str, text: str) -> None:
    flags = FLAVOURS[flavour]
    if flags & NC:
        uri = URI.parse(text, flags)
        assert uri.join()  # regress_http.c: joining works
    else:
        with pytest.raises(InvalidURIError) as info:
            URI.parse(text, flags)
        assert info.value.text == text


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("text", BAD)
def test_bad_cases(flavour: str, text: str) -> None:
    with pytest.raises(InvalidURIError):
        URI.parse(text, FLAVOURS[flavour])


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("text", UNI)
def test_unix_socket_cases(flavour: str, text: str) -> None:
    flags = FLAVOURS[flavour]
    try:
        uri = URI.parse(text, flags)
    except InvalidURIError:
        assert not flags & UN  # only required to parse with UNIX_SOCKET, as in libevent
        return
    assert uri.join()


def test_unix_socket_parts() -> None:
    uri = URI.parse("http://user:pass@unix:/tmp/foobar/:/foo?x#y", UN)
    assert (uri.userinfo, uri.unixsocket, uri.host, uri.port) == (
        "user:pass", "/tmp/foobar/", None, None,
    )  # fmt: skip
    # libevent 2.2 leaves the socket path as the request path too; evweb: what follows it
    assert (uri.path, uri.query, uri.fragment) == ("/foo", "x", "y")
    assert str(uri) == "http://user:pass@unix:/tmp/foobar/:/foo?x#y"
    assert URI.parse("http://unix:a:", UN).unixsocket == "a"
    with pytest.raises(InvalidURIError):
        URI.parse("http://unix:/no/closing/colon", UN)
    assert URI.parse("http://unix:80/", URIFlags.NONE).port == 80  # no flag: a host "unix"


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("case", VALID, ids=[c[0] for c in VALID])
def test_valid_parsing(flavour: str, case: tuple[object, ...]) -> None:
    text, *fields, joined = case
    uri = URI.parse(str(text), FLAVOURS[flavour])
    got = [uri.scheme, uri.userinfo, uri.host, uri.port, uri.path, uri.query, uri.fragment]
    assert got == fields
    assert uri.join() == str(uri) == joined
    assert URI.parse(str(joined), FLAVOURS[flavour]) == uri


def test_host_strip_brackets() -> None:
    uri = URI.parse("ftp://[ff00::127.0.0.1]/?q=test", URIFlags.HOST_STRIP_BRACKETS)
    assert (uri.scheme, uri.host, uri.path, uri.query) == ("ftp", "ff00::127.0.0.1", "/", "q=test")
    assert (uri.userinfo, uri.port, uri.fragment) == (None, None, None)
    assert str(uri) == "ftp://[ff00::127.0.0.1]/?q=test"
    uri.set_host("foo")
    assert uri.host == "foo"
    assert str(uri) == "ftp://foo/?q=test"
    uri.set_host("[ff00::127.0.0.1]")
    assert uri.host == "ff00::127.0.0.1"
    assert str(uri) == "ftp://[ff00::127.0.0.1]/?q=test"
    future = URI.parse("http://[v7.abc]/", URIFlags.HOST_STRIP_BRACKETS)
    assert future.host == "v7.abc" and str(future) == "http://[v7.abc]/"


def test_join_refusals() -> None:
    uri = URI(host="www.example.com")
    assert uri.join() == "//www.example.com"
    uri.set_path("hi_mom")  # valid alone, as in libevent; joining fails as in libevent
    with pytest.raises(InvalidURIError):
        uri.join()
    # evweb also refuses what libevent would join into text that parses back differently
    for bad in (URI(port=80), URI(userinfo="u"), URI(path="//x"), URI(path="a:b")):
        with pytest.raises(InvalidURIError):
            bad.join()
    assert URI(scheme="a", path="b:c").join() == "a:b:c"


def test_setters_refuse_as_libevent() -> None:
    uri = URI()
    refused = [
        (uri.set_scheme, ""), (uri.set_scheme, "33"), (uri.set_scheme, "hi!"),
        (uri.set_userinfo, "hello@"), (uri.set_host, "[1.2.3.4]"), (uri.set_host, "["),
        (uri.set_host, "www.[foo].com"), (uri.set_port, -3), (uri.set_path, "hello?world"),
        (uri.set_query, "hello#world"), (uri.set_fragment, "hello#world"),
        (uri.set_port, 65536), (uri.set_port, True), (uri.set_path, "a\0b"),
    ]  # fmt: skip
    for setter, value in refused:
        with pytest.raises(InvalidURIError):
            setter(value)  # type: ignore[operator]
    accepted = [
        (uri.set_scheme, "http"), (uri.set_scheme, None), (uri.set_userinfo, "username:pass"),
        (uri.set_userinfo, None), (uri.set_host, "www.example.com"), (uri.set_host, "1.2.3.4"),
        (uri.set_host, "[1:2:3:4::]"), (uri.set_host, "[v7.wobblewobble]"), (uri.set_host, None),
        (uri.set_host, ""), (uri.set_port, None), (uri.set_port, 80), (uri.set_port, 65535),
        (uri.set_path, ""), (uri.set_path, "/documents/public/index.html"), (uri.set_path, None),
        (uri.set_query, "key=val&key2=val2"), (uri.set_query, "keyvalblarg"),
        (uri.set_query, ""), (uri.set_query, None), (uri.set_fragment, ""),
        (uri.set_fragment, "here?i?am"), (uri.set_fragment, None),
    ]  # fmt: skip
    for setter, value in accepted:
        setter(value)  # type: ignore[operator]


def test_nonconformant_setters() -> None:
    uri = URI(flags=NC)
    uri.set_path("/a b")
    uri.set_query("x y?")
    with pytest.raises(InvalidURIError):
        uri.set_path("/a?b")
    assert str(uri) == "/a b?x y?"


def test_nul_is_refused() -> None:
    with pytest.raises(InvalidURIError):
        URI.parse("http://x/a\0b", NC)


# --- RFC 3986 §5.4 reference resolution ----------------------------------------------------

BASE = "http://a/b/c/d;p?q"
RESOLVED = {
    "g:h": "g:h", "g": "http://a/b/c/g", "./g": "http://a/b/c/g", "g/": "http://a/b/c/g/",
    "/g": "http://a/g", "//g": "http://g", "?y": "http://a/b/c/d;p?y",
    "g?y": "http://a/b/c/g?y", "#s": "http://a/b/c/d;p?q#s", "g#s": "http://a/b/c/g#s",
    "g?y#s": "http://a/b/c/g?y#s", ";x": "http://a/b/c/;x", "g;x": "http://a/b/c/g;x",
    "g;x?y#s": "http://a/b/c/g;x?y#s", "": "http://a/b/c/d;p?q", ".": "http://a/b/c/",
    "./": "http://a/b/c/", "..": "http://a/b/", "../": "http://a/b/", "../g": "http://a/b/g",
    "../..": "http://a/", "../../": "http://a/", "../../g": "http://a/g",
    # abnormal examples (§5.4.2)
    "../../../g": "http://a/g", "../../../../g": "http://a/g", "/./g": "http://a/g",
    "/../g": "http://a/g", "g.": "http://a/b/c/g.", ".g": "http://a/b/c/.g",
    "g..": "http://a/b/c/g..", "..g": "http://a/b/c/..g", "./../g": "http://a/b/g",
    "./g/.": "http://a/b/c/g/", "g/./h": "http://a/b/c/g/h", "g/../h": "http://a/b/c/h",
    "g;x=1/./y": "http://a/b/c/g;x=1/y", "g;x=1/../y": "http://a/b/c/y",
    "g?y/./x": "http://a/b/c/g?y/./x", "g?y/../x": "http://a/b/c/g?y/../x",
    "g#s/./x": "http://a/b/c/g#s/./x", "g#s/../x": "http://a/b/c/g#s/../x",
    "http:g": "http:g",
}  # fmt: skip


@pytest.mark.parametrize("reference", RESOLVED)
def test_resolve_rfc3986_examples(reference: str) -> None:
    assert str(URI.parse(BASE).resolve(reference)) == RESOLVED[reference]


def test_resolve_keeps_port_userinfo_and_empty_base_path() -> None:
    base = URI.parse("https://u@h:8443")
    assert str(base.resolve("x?y")) == "https://u@h:8443/x?y"
    assert str(base.resolve(URI.parse("//other/z"))) == "https://other/z"


# --- uriencode / uridecode ------------------------------------------------------------------

ENC = [
    ("Hello", "Hello", False), ("99", "99", False), ("", "", False),
    ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ123456789-.~_",
     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ123456789-.~_", False),
    (" ", "%20", False), (" ", "+", True), ("\x01\x19", "%01%19", True),
    ("http://www.ietf.org/rfc/rfc3986.txt", "http%3A%2F%2Fwww.ietf.org%2Frfc%2Frfc3986.txt", True),
    ("1+2=3", "1%2B2%3D3", True), ("1+2=3", "1%2B2%3D3", False),
]  # fmt: skip


@pytest.mark.parametrize(("text", "encoded", "plus"), ENC)
def test_uriencode_table(text: str, encoded: str, plus: bool) -> None:
    assert uriencode(text, space_as_plus=plus) == encoded
    assert uridecode(encoded, decode_plus=plus) == text
    assert uriencode(text.encode(), space_as_plus=plus) == encoded
    assert uridecode(encoded.encode(), decode_plus=plus) == text.encode()


def test_uriencode_bytes_and_nul() -> None:
    assert uriencode(b"\xff\xf0\xe0") == "%FF%F0%E0"
    assert uridecode(b"%FF%F0%E0") == b"\xff\xf0\xe0"
    assert uriencode("hello\0world") == "hello%00world"
    assert uriencode("é") == "%C3%A9"


def test_uridecode_cases() -> None:
    assert uridecode("hello%20%20"[:6]) == "hello%"  # a cut escape stays as it is
    assert uridecode(b"%%xhello th+ere \xff") == b"%%xhello th+ere \xff"
    assert uridecode("plus+should%20work+", decode_plus=True) == "plus should work "
    assert uridecode(b"%f0%a0%b0", decode_plus=True) == b"\xf0\xa0\xb0"
    assert uridecode("%00%00x%00%00", decode_plus=True) == "\0\0x\0\0"
    assert uridecode("%2B+", decode_plus=True) == "+ "  # a decoded + stays a +
    assert uriencode(uridecode("%FF")) == "%FF"  # stray bytes survive the str round trip


# --- parse_query_str ------------------------------------------------------------------------


def test_parse_query_str_cases() -> None:
    assert parse_query_str("http://www.test.com/?q=test") == [("http://www.test.com/?q", "test")]
    assert parse_query_str("q=test") == [("q", "test")]
    assert parse_query_str("") == []
    assert parse_query_str("q=test+foo&r=test%0Afoo&s=test%0Dfoo") == [
        ("q", "test foo"), ("r", "test\nfoo"), ("s", "test\rfoo"),
    ]  # fmt: skip
    assert parse_query_str("q=&q2=&q3=") == [("q", ""), ("q2", ""), ("q3", "")]
    assert parse_query_str("a=1&") == [("a", "1")]  # one trailing & is ignored, as in C
    assert parse_query_str("k%20=v=w") == [("k%20", "v=w")]  # keys are not decoded


STRICT_REFUSED = ["q=test&&q2", "q&q2=foo", "q=foo&q2", "q=foo&q2&q3=x", "q=test&q2",
                  "q=test&&q2=test2", "q=test&=1&q2=test2"]  # fmt: skip


@pytest.mark.parametrize("query", STRICT_REFUSED)
def test_parse_query_str_strict_refuses(query: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        parse_query_str(query)
    assert info.value.text == query


def test_parse_query_str_flags() -> None:
    assert parse_query_str("q=test&q=test2") == [("q", "test"), ("q", "test2")]
    assert parse_query_str("q=test&q=test2", URIFlags.LAST_VAL) == [("q", "test2")]
    assert parse_query_str("q=test&q2", NC) == [("q", "test"), ("q2", "")]
    assert parse_query_str("q=test&&q2=test2", NC) == [("q", "test"), ("q2", "test2")]
    assert parse_query_str("q=test&=1&q2=test2", NC) == [("q", "test"), ("q2", "test2")]
    assert parse_query_str("a=1&b=2&a=3", URIFlags.LAST_VAL) == [("b", "2"), ("a", "3")]
    assert MultiDict(parse_query_str("a=1&a=2")).get_all("a") == ["1", "2"]


# --- http_primitives: htmlescape ------------------------------------------------------------


def test_htmlescape() -> None:
    assert htmlescape("<script>") == "&lt;script&gt;"
    assert htmlescape("\"'&") == "&quot;&#039;&amp;"
    assert htmlescape("") == ""


# --- hypothesis -----------------------------------------------------------------------------

ANY_FLAGS = st.sampled_from([URIFlags(f) for f in (0, 1, 4, 5, 8, 9, 12, 13)])
URI_CHARS = st.sampled_from(list(":/?#[]@!$&'()*+,;=%-._~ aZ09\x01é\0v"))


@given(st.one_of(st.text(), st.text(URI_CHARS)), ANY_FLAGS)
def test_parse_random_text_raises_only_invalid_uri(text: str, flags: URIFlags) -> None:
    try:
        uri = URI.parse(text, flags)
    except InvalidURIError:
        return
    again = URI.parse(uri.join(), flags)  # whatever parses joins into text that parses back
    assert again == uri


_UNRES = "abcXYZ019-._~"
_SUB = "!$&'()*+,;="
_PCT = st.sampled_from(["%20", "%7e", "%C3%A9", "%00"])


def _chars(extra: str) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(list(_UNRES + _SUB + extra)), _PCT)).map("".join)


@st.composite
def valid_uris(draw: st.DrawFn) -> URI:
    scheme = draw(st.none() | st.from_regex(r"[A-Za-z][A-Za-z0-9+\-.]{0,6}", fullmatch=True))
    host = draw(st.none() | _chars("") | st.sampled_from(["[::1]", "[v1.x:y]", "127.0.0.1"]))
    segments = draw(st.lists(_chars(":@"), max_size=4))
    path = "/".join(segments)
    if host is not None:
        path = "/" + path if path else draw(st.sampled_from(["", "/"]))
    else:
        path = path.lstrip("/")
        if scheme is None and ":" in path.split("/", 1)[0]:
            path = "./" + path
    return URI(
        scheme=scheme,
        userinfo=draw(st.none() | _chars(":")) if host is not None else None,
        host=host,
        port=draw(st.none() | st.integers(0, 65535)) if host is not None else None,
        path=path,
        query=draw(st.none() | _chars(":@/?")),
        fragment=draw(st.none() | _chars(":@/?")),
    )


@given(valid_uris())
def test_generated_uris_round_trip(uri: URI) -> None:
    assert URI.parse(str(uri)) == uri
    assert str(URI.parse(str(uri))) == str(uri)


@given(st.text())
def test_uridecode_inverts_uriencode(text: str) -> None:
    assert uridecode(uriencode(text)) == text
    assert uridecode(uriencode(text, space_as_plus=True), decode_plus=True) == text


@given(st.binary())
def test_uridecode_inverts_uriencode_bytes(data: bytes) -> None:
    assert uridecode(uriencode(data).encode("ascii")) == data


# --- the C names (evweb.libevent) -----------------------------------------------------------


def test_c_names_follow_regress_http() -> None:
    import evweb.libevent as le
    from evweb.http import Headers

    buf: list[str] = []
    assert le.evhttp_uri_join(None, buf, 4096) is None
    uri = le.evhttp_uri_new()
    assert le.evhttp_uri_set_host(uri, "www.example.com") == 0
    assert le.evhttp_uri_join(uri, buf, 4096) == buf[0] == "//www.example.com"
    assert le.evhttp_uri_join(uri, buf, 3) is None  # not enough space
    assert le.evhttp_uri_set_path(uri, "hi_mom") == 0
    assert le.evhttp_uri_join(uri, buf, 4096) is None
    assert le.evhttp_uri_join(uri, None, 4096) is None
    assert le.evhttp_uri_set_port(uri, -3) == -1 and le.evhttp_uri_set_port(uri, -1) == 0
    assert le.evhttp_uri_get_port(uri) == -1
    assert le.evhttp_uri_parse("http://www.test.com:x/") is None
    nc = le.evhttp_uri_parse_with_flags("http://x/ a", le.EVHTTP_URI_NONCONFORMANT)
    assert nc is not None and le.evhttp_uri_get_path(nc) == "/ a"
    mail = le.evhttp_uri_parse("mailto:foo@bar")
    assert mail is not None and le.evhttp_uri_get_host(mail) is None
    assert le.evhttp_uriencode("hello\0world", 11, 0) == "hello%00world"
    assert le.evhttp_uriencode("hello\0world", -1, 0) == "hello"  # strlen, as in C
    size: list[int] = []
    assert le.evhttp_uridecode("%00%00x%00%00", 1, size) == "\0\0x\0\0" and size == [5]
    assert le.evhttp_decode_uri("http://example.com/normal+path/?key=val+with+spaces") == (
        "http://example.com/normal+path/?key=val with spaces"
    )
    headers = Headers()
    assert le.evhttp_parse_query("http://www.test.com/?q=test%0Afoo", headers) == 0
    assert headers.get("q") == "test\nfoo"
    assert le.evhttp_parse_query("http://www.test.com/?q=test&&q2", headers) == -1
    assert len(headers) == 0  # cleared on failure
    assert le.evhttp_parse_query_str("http://www.test.com/?q=test", headers) == 0
    assert headers.get("q") is None
    flags = le.EVHTTP_URI_QUERY_LAST_VAL
    assert le.evhttp_parse_query_str_flags("Q=test&q=test2", headers, flags) == 0
    assert headers.items() == [("q", "test2")]  # evkeyvalq keys are case-insensitive
    assert le.evhttp_htmlescape("<script>") == "&lt;script&gt;"
