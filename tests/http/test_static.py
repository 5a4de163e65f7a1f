"""StaticFiles through a real server: requests, curl and raw sockets for the attacks."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests

from evweb.errors import ConfigError
from evweb.http import HTTPServer, Request
from evweb.http.static import StaticFiles, content_type, parse_range
from evweb.reactor import supported_methods
from tests.http.live import LiveServer, live_server, raw_exchange

SECRET = b"top secret: outside the root\n"
TEXT = b"0123456789abcdefghijklmnopqrstuvwxyz\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with files, a sub-directory, hidden files and links; secret.txt next to it."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_bytes(SECRET)
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_bytes(TEXT)
    (root / "page.html").write_bytes(b"<p>hi</p>")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (root / "empty.txt").write_bytes(b"")
    (root / 'odd <name> & "q".txt').write_bytes(b"odd")
    (root / ".env").write_bytes(b"PASSWORD=1")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"[core]")
    sub = root / "sub"
    sub.mkdir()
    (sub / "s.txt").write_bytes(b"in sub")
    with_index = root / "site"
    with_index.mkdir()
    (with_index / "index.html").write_bytes(b"<h1>index</h1>")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "escape_dir").symlink_to(tmp_path / "outside")
    (root / "inner").symlink_to(root / "a.txt")
    (root / "inner_dir").symlink_to(sub)
    (root / "to_hidden").symlink_to(root / ".env")
    return root


def serving(root: Path, method: str, **options: Any) -> Any:
    files = StaticFiles(root, **options)
    return live_server(lambda server: server.set_gencb(files), method=method)


@pytest.fixture(params=supported_methods())
def srv(request: pytest.FixtureRequest, tree: Path) -> Iterator[LiveServer]:
    with serving(tree, request.param) as live:
        yield live


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def raw_get(port: int, target: bytes) -> bytes:
    return raw_exchange(
        port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )


# -- files -------------------------------------------------------------------------------


def test_file_with_validators(srv: LiveServer, tree: Path) -> None:
    r = requests.get(srv.url + "/a.txt")
    assert r.status_code == 200
    assert r.content == TEXT
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["Content-Length"] == str(len(TEXT))
    assert r.headers["Accept-Ranges"] == "bytes"
    st = os.stat(tree / "a.txt")
    assert r.headers["ETag"] == f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    assert r.headers["Last-Modified"] == formatdate(int(st.st_mtime), usegmt=True)


def test_types_html_binary_and_empty(srv: LiveServer) -> None:
    with requests.Session() as http:
        r = http.get(srv.url + "/page.html")
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        r = http.get(srv.url + "/data.bin")
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.content == bytes(range(256)) * 4
        r = http.get(srv.url + "/empty.txt")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["Content-Length"] == "0"


def test_head_has_length_and_no_body(srv: LiveServer) -> None:
    r = requests.head(srv.url + "/a.txt")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(TEXT))
    assert r.content == b""
    reply = raw_exchange(srv.port, b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.endswith(b"\r\n\r\n")  # nothing after the head


def test_big_file_through_sendfile_and_keep_alive(srv: LiveServer, tree: Path) -> None:
    data = os.urandom(3 << 20)
    (tree / "big.bin").write_bytes(data)
    with requests.Session() as http:
        for _ in range(2):
            r = http.get(srv.url + "/big.bin")
            assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
        assert http.get(srv.url + "/missing").status_code == 404
        assert http.get(srv.url + "/a.txt").content == TEXT  # the 404 kept the connection


def test_client_leaving_mid_download_leaks_no_fd(srv: LiveServer, tree: Path) -> None:
    (tree / "huge.bin").write_bytes(b"z" * 20_000_000)
    before = open_fds()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as c:
            c.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.recv(65536).startswith(b"HTTP/1.1 200")
    server = srv.server
    assert server is not None
    wait_until(lambda: not srv.call(lambda: len(server.connections)))
    assert open_fds() - before == set()


def test_file_shrinking_mid_download_closes_the_connection(srv: LiveServer, tree: Path) -> None:
    path = tree / "shrinks.bin"
    path.write_bytes(b"s" * 20_000_000)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as c:
        c.sendall(b"GET /shrinks.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = len(c.recv(65536))
        os.truncate(path, 1000)
        while chunk := c.recv(1 << 20):  # closed by the server, not left hanging (or spinning)
            got += len(chunk)
    assert got < 20_000_000
    assert requests.get(srv.url + "/a.txt").content == TEXT  # and it still serves


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")} if os.path.isdir("/proc") else set()


def wait_until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_missing_is_404_and_trailing_slash_on_a_file_too(srv: LiveServer) -> None:
    assert requests.get(srv.url + "/nope.txt").status_code == 404
    assert requests.get(srv.url + "/sub/nope/deeper").status_code == 404
    assert requests.get(srv.url + "/a.txt/").status_code == 404
    assert requests.get(srv.url + "/a.txt/x").status_code == 404


def test_other_methods_are_405_with_allow(srv: LiveServer) -> None:
    for verb in ("POST", "PUT", "DELETE", "OPTIONS"):
        r = requests.request(verb, srv.url + "/a.txt")
        assert r.status_code == 405, verb
        assert r.headers["Allow"] == "GET, HEAD"


# -- conditional requests ----------------------------------------------------------------


def test_if_none_match_gives_304(srv: LiveServer) -> None:
    with requests.Session() as http:
        etag = http.get(srv.url + "/a.txt").headers["ETag"]
        for value in (etag, "W/" + etag, f'"nope", {etag}', "*"):
            r = http.get(srv.url + "/a.txt", headers={"If-None-Match": value})
            assert r.status_code == 304, value
            assert r.content == b""
            assert r.headers["ETag"] == etag
            assert "Content-Type" not in r.headers
        r = http.get(srv.url + "/a.txt", headers={"If-None-Match": '"other"'})
        assert r.status_code == 200 and r.content == TEXT
        assert http.head(srv.url + "/a.txt", headers={"If-None-Match": etag}).status_code == 304


def test_if_modified_since(srv: LiveServer) -> None:
    with requests.Session() as http:
        last = http.get(srv.url + "/a.txt").headers["Last-Modified"]
        assert http.get(srv.url + "/a.txt", headers={"If-Modified-Since": last}).status_code == 304
        old = formatdate(0, usegmt=True)
        assert http.get(srv.url + "/a.txt", headers={"If-Modified-Since": old}).status_code == 200
        bad = {"If-Modified-Since": "not a date"}
        assert http.get(srv.url + "/a.txt", headers=bad).status_code == 200
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
        both = {"If-None-Match": '"other"', "If-Modified-Since": last}
        assert http.get(srv.url + "/a.txt", headers=both).status_code == 200


def test_if_match_and_if_unmodified_since_give_412(srv: LiveServer) -> None:
    with requests.Session() as http:
        r = http.get(srv.url + "/a.txt")
        etag, last = r.headers["ETag"], r.headers["Last-Modified"]
        assert http.get(srv.url + "/a.txt", headers={"If-Match": '"x"'}).status_code == 412
        assert http.get(srv.url + "/a.txt", headers={"If-Match": etag}).status_code == 200
        assert http.get(srv.url + "/a.txt", headers={"If-Match": "W/" + etag}).status_code == 412
        old = {"If-Unmodified-Since": formatdate(0, usegmt=True)}
        assert http.get(srv.url + "/a.txt", headers=old).status_code == 412
        assert (
            http.get(srv.url + "/a.txt", headers={"If-Unmodified-Since": last}).status_code == 200
        )


# -- ranges --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, len(TEXT) - 1),
        ("bytes=-5", len(TEXT) - 5, len(TEXT) - 1),
        ("bytes=30-1000", 30, len(TEXT) - 1),
        ("bytes=-1000", 0, len(TEXT) - 1),
        ("BYTES = 3-3", 3, 3),
    ],
)
def test_single_range_is_206(srv: LiveServer, spec: str, first: int, last: int) -> None:
    r = requests.get(srv.url + "/a.txt", headers={"Range": spec})
    assert r.status_code == 206
    assert r.content == TEXT[first : last + 1]
    assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(TEXT)}"
    assert r.headers["Content-Length"] == str(last - first + 1)


@pytest.mark.parametrize("spec", ["bytes=1000-", "bytes=-0", "bytes=5-2", f"bytes={len(TEXT)}-"])
def test_unsatisfiable_range_is_416(srv: LiveServer, spec: str) -> None:
    r = requests.get(srv.url + "/a.txt", headers={"Range": spec})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(TEXT)}"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-1", "bytes=x-y", "bytes=-", "bytes"])
def test_multiple_or_unknown_ranges_serve_the_whole_file(srv: LiveServer, spec: str) -> None:
    r = requests.get(srv.url + "/a.txt", headers={"Range": spec})
    assert r.status_code == 200
    assert r.content == TEXT


def test_if_range(srv: LiveServer) -> None:
    with requests.Session() as http:
        r = http.get(srv.url + "/a.txt")
        etag, last = r.headers["ETag"], r.headers["Last-Modified"]
        for validator, status in ((etag, 206), (last, 206), ('"old"', 200), ("W/" + etag, 200)):
            r = http.get(srv.url + "/a.txt", headers={"Range": "bytes=0-3", "If-Range": validator})
            assert r.status_code == status, validator
        r = http.head(srv.url + "/a.txt", headers={"Range": "bytes=0-3"})
        assert r.status_code == 200  # ranges are for GET only


def test_range_of_an_empty_file_is_416(srv: LiveServer) -> None:
    r = requests.get(srv.url + "/empty.txt", headers={"Range": "bytes=0-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */0"


def test_parse_range_unit() -> None:
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=9-", 10) == (9, 9)
    assert parse_range("bytes=0-" + "9" * 40, 10) == (0, 9)  # no int-parsing limit to trip on
    assert parse_range("bytes=" + "9" * 40 + "-", 10) == (-1, -1)
    assert parse_range("bytes=\u0661-2", 10) is None  # non-ASCII digits are not digits here
    assert parse_range("bytes=1-2, ", 10) == (1, 2)


# -- curl ---------------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("curl")
    if exe is None:
        pytest.skip("curl is not installed (Debian package curl)")
    return subprocess.run([exe, "-s", "-S", *args], capture_output=True, timeout=20, check=False)


def test_curl_range_resume_and_time_condition(srv: LiveServer, tree: Path) -> None:
    out = curl("-r", "5-9", srv.url + "/a.txt")
    assert out.returncode == 0 and out.stdout == TEXT[5:10]
    partial = tree.parent / "partial.txt"
    partial.write_bytes(TEXT[:10])
    out = curl("-C", "-", "-o", str(partial), srv.url + "/a.txt")
    assert out.returncode == 0, out.stderr
    assert partial.read_bytes() == TEXT  # resumed with a range
    out = curl(
        "-z", str(tree / "a.txt"), "-o", "/dev/null", "-w", "%{http_code}", srv.url + "/a.txt"
    )
    assert out.stdout == b"304"


# -- directories -----------------------------------------------------------------------------


def test_directory_redirects_to_slash(srv: LiveServer) -> None:
    r = requests.get(srv.url + "/sub?x=1", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == "/sub/?x=1"
    assert requests.get(srv.url + "/sub").url.endswith("/sub/")


def test_redirect_cannot_point_to_another_host(srv: LiveServer) -> None:
    reply = raw_get(srv.port, b"//sub")
    assert status_of(reply) == 301
    assert b"\r\nLocation: /sub/\r\n" in reply


def test_index_file_is_served(srv: LiveServer) -> None:
    r = requests.get(srv.url + "/site/")
    assert r.status_code == 200
    assert r.content == b"<h1>index</h1>"
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"


def test_listing_escapes_and_encodes_names(srv: LiveServer) -> None:
    r = requests.get(srv.url + "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    page = r.text
    assert 'href="a.txt"' in page and 'href="sub/"' in page and 'href="site/"' in page
    assert "odd &lt;name&gt; &amp; &#34;q&#34;.txt" in page
    assert 'href="odd%20%3Cname%3E%20%26%20%22q%22.txt"' in page
    assert "<name>" not in page
    assert ".env" not in page and ".git" not in page  # hidden
    assert "escape" not in page and "inner" not in page  # links are not followed
    assert 'href="../"' not in page  # no parent above the root
    assert 'href="../"' in requests.get(srv.url + "/sub/").text
    assert requests.head(srv.url + "/").content == b""


def test_listing_off_and_truncated(tree: Path) -> None:
    with serving(tree, "poll", listing=False) as live:
        assert requests.get(live.url + "/sub/").status_code == 404
        assert requests.get(live.url + "/site/").status_code == 200  # index files still work
    for i in range(20):
        (tree / "sub" / f"f{i:02d}").write_bytes(b"")
    with serving(tree, "poll", max_listing=5) as live:
        page = requests.get(live.url + "/sub/").text
        assert page.count("<a href=") <= 6  # five entries and the parent
        assert "Only the first 5 entries are shown." in page


def test_undecodable_names(srv: LiveServer, tree: Path) -> None:
    name = os.fsencode(str(tree)) + b"/caf\xe9.txt"
    with open(name, "wb") as f:
        f.write(b"latin-1 name")
    assert 'href="caf%E9.txt"' in requests.get(srv.url + "/").text
    assert requests.get(srv.url + "/caf%E9.txt").content == b"latin-1 name"


# -- nothing outside the root ----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        b"/../secret.txt",
        b"/sub/../../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/%2E%2E/secret.txt",
        b"/sub/%2e%2e/%2e%2e/secret.txt",
        b"/..%2fsecret.txt",
        b"/%2e%2e%2fsecret.txt",
        b"/sub/..%2f..%2fsecret.txt",
        b"/.%2e/secret.txt",
        b"/..\\secret.txt",
        b"/sub\\..\\..\\secret.txt",
        b"/..%5csecret.txt",
        b"/%5c..%5csecret.txt",
        b"/a.txt%00.html",
        b"/sub/%00",
        b"/./a.txt",
        b"/%c0%ae%c0%ae/secret.txt",
        b"/%252e%252e/secret.txt",
    ],
)
def test_traversal_is_refused(srv: LiveServer, target: bytes) -> None:
    reply = raw_get(srv.port, target)
    assert status_of(reply) in (400, 404), reply
    assert SECRET not in reply


def test_absolute_form_traversal_is_refused(srv: LiveServer) -> None:
    reply = raw_get(srv.port, b"http://x/%2e%2e/secret.txt")
    assert status_of(reply) in (400, 404)
    assert SECRET not in reply


def test_symlinks_are_not_followed_by_default(srv: LiveServer) -> None:
    for path in ("/escape", "/escape_dir/x.txt", "/escape_dir/", "/inner", "/inner_dir/s.txt"):
        r = requests.get(srv.url + path)
        assert r.status_code == 404, path
        assert SECRET not in r.content


def test_followed_symlinks_stay_inside(tree: Path) -> None:
    with serving(tree, "poll", follow_symlinks=True) as live:
        assert requests.get(live.url + "/inner").content == TEXT
        assert requests.get(live.url + "/inner_dir/s.txt").content == b"in sub"
        page = requests.get(live.url + "/").text
        assert 'href="inner"' in page and 'href="inner_dir/"' in page
        assert "escape" not in page and "to_hidden" not in page
        for path in ("/escape", "/escape_dir/x.txt", "/to_hidden"):
            r = requests.get(live.url + path)
            assert r.status_code == 404, path
            assert SECRET not in r.content


def test_hidden_files(srv: LiveServer, tree: Path) -> None:
    assert requests.get(srv.url + "/.env").status_code == 404
    assert requests.get(srv.url + "/.git/config").status_code == 404
    assert requests.get(srv.url + "/%2eenv").status_code == 404
    with serving(tree, "poll", show_hidden=True) as live:
        assert requests.get(live.url + "/.env").content == b"PASSWORD=1"
        assert ".git/" in requests.get(live.url + "/").text


def test_fifo_and_special_files_are_404_without_blocking(srv: LiveServer, tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    r = requests.get(srv.url + "/pipe", timeout=5)
    assert r.status_code == 404
    assert "pipe" not in requests.get(srv.url + "/").text


def test_unreadable_file_is_403(srv: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open
    target = os.path.join(os.path.realpath(srv_root(srv)), "a.txt")

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if path == target:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    r = requests.get(srv.url + "/a.txt")
    assert r.status_code == 403


def srv_root(srv: LiveServer) -> str:
    server = srv.server
    assert server is not None
    files = server._gencb.handler  # type: ignore[union-attr]
    assert isinstance(files, StaticFiles)
    return files.root


def test_mounted_under_a_prefix(tree: Path) -> None:
    files = StaticFiles(tree)

    def mounted(req: Request) -> None:
        if req.path == "/static" or req.path.startswith("/static/"):
            req.root_path = "/static"
            files(req)
        else:
            req.send_reply(418)

    def setup(server: HTTPServer) -> None:
        server.set_gencb(mounted)

    with live_server(setup, method="poll") as live:
        assert requests.get(live.url + "/static/a.txt").content == TEXT
        r = requests.get(live.url + "/static", allow_redirects=False)
        assert r.status_code == 301 and r.headers["Location"] == "/static/"
        page = requests.get(live.url + "/static/").text
        assert 'href="a.txt"' in page and 'href="../"' not in page
        reply = raw_get(live.port, b"/static/../secret.txt")
        assert status_of(reply) == 400


# -- configuration and helpers ----------------------------------------------------------------


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        StaticFiles(tmp_path / "missing")
    with pytest.raises(ConfigError):
        StaticFiles(tmp_path, index="../x")
    with pytest.raises(ConfigError):
        StaticFiles(tmp_path, max_listing=0)


def test_content_types() -> None:
    assert content_type("a.txt") == "text/plain; charset=utf-8"
    assert content_type("a.HTML") == "text/html; charset=utf-8"
    assert content_type("a.png") == "image/png"
    assert content_type("a.tar.gz") == "application/gzip"
    assert content_type("noext") == "application/octet-stream"
    assert content_type("a.svg") == "image/svg+xml; charset=utf-8"


# -- over TLS: pread pieces instead of sendfile (and never a map) -----------------------------


def test_https_files_ranges_head_and_a_file_shrinking(tree: Path, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_file = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    data = os.urandom(3 << 20)
    (tree / "big.bin").write_bytes(data)
    files = StaticFiles(tree)
    with (
        live_server(lambda server: server.set_gencb(files), ssl_context=ctx) as live,
        requests.Session() as http,
    ):
        v = {"verify": ca_file}  # per request: REQUESTS_CA_BUNDLE would beat Session.verify
        assert http.get(live.url + "/big.bin", **v).content == data
        ranged = {"Range": "bytes=1000000-1000009"}
        r = http.get(live.url + "/big.bin", headers=ranged, **v)
        assert r.status_code == 206 and r.content == data[1000000:1000010]
        r = http.head(live.url + "/big.bin", **v)
        assert r.headers["Content-Length"] == str(len(data)) and r.content == b""
        assert http.get(live.url + "/empty.txt", **v).content == b""
        client = ssl.create_default_context(cafile=ca_file)
        raw = socket.create_connection(("127.0.0.1", live.port), timeout=5)
        with client.wrap_socket(raw, server_hostname="127.0.0.1") as c:
            c.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = len(c.recv(65536))
            (tree / "big.bin").write_bytes(b"shorter")  # rewritten in place, as cp does
            while chunk := c.recv(1 << 20):
                got += len(chunk)
        assert got < len(data)  # cut short and closed
        assert http.get(live.url + "/a.txt", **v).content == TEXT  # the server lives on
