"""A harness for the resolver tests: one EventBase, scripted servers and resolvers, cleaned up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evweb.dns.resolver import DNSResolver, DNSResult, QueryFlags
from evweb.reactor import EventBase, EventConfig
from tests.dns.scripted_server import Query, ScriptedServer, answer, run_until

ZONE = {"www.example.com": {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]}}
FAST = {"timeout": "0.05", "initial-probe-timeout": "0.1"}


class Harness:
    """Servers and resolvers on one base (``method``: a backend), closed by :meth:`close`."""

    def __init__(self, method: str | None = None) -> None:
        self.base = EventBase(EventConfig(method=method)) if method else EventBase()
        self._servers: list[ScriptedServer] = []
        self._resolvers: list[DNSResolver] = []

    def server(
        self, handler: Any = None, zone: Any = None, host: str = "127.0.0.1"
    ) -> ScriptedServer:
        """A scripted server on the base (the default zone answers www.example.com)."""
        server = ScriptedServer(self.base, handler, ZONE if zone is None else zone, host)
        self._servers.append(server)
        return server

    def resolver(
        self, *servers: ScriptedServer, keep: bool = False, hosts: str | None = None, **options: str
    ) -> DNSResolver:
        """A resolver without resolv.conf (nor hosts, by default), fast timeouts and ``options``."""
        resolver = DNSResolver(self.base, resolv_conf=None, hosts=hosts, keep_loop_alive=keep)
        for name, value in {**FAST, **options}.items():
            resolver.set_option(name.replace("_", "-"), value)
        for server in servers:
            resolver.add_nameserver(server.address)
        self._resolvers.append(resolver)
        return resolver

    def lookup(
        self,
        resolver: DNSResolver,
        name: str = "www.example.com",
        rtype: int | str = "A",
        flags: QueryFlags | int = QueryFlags.NONE,
        timeout: float = 3.0,
    ) -> DNSResult:
        """Query and run the loop until the callback ran; its result."""
        results: list[DNSResult] = []
        resolver.query(name, rtype, results.append, flags)
        run_until(self.base, lambda: results, timeout)
        return results[0]

    def run_until(self, done: Callable[[], object], timeout: float = 3.0) -> float:
        """Run the loop until ``done()``."""
        return run_until(self.base, done, timeout)

    def close(self) -> None:
        """Close every resolver, server and the base."""
        for resolver in self._resolvers:
            resolver.close(fail_requests=False)
        for server in self._servers:
            server.close()
        self.base.close()


def dropping(count: int, then: Callable[[Query], Any] | None = None) -> Callable[[Query], Any]:
    """A handler that drops the first ``count`` queries, then answers with ``then``."""
    seen = [0]

    def handle(query: Query) -> Any:
        seen[0] += 1
        if seen[0] <= count:
            return None
        return then(query) if then else answer(query, "A", "192.0.2.1")

    return handle
