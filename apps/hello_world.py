"""libevent's hello-world sample, on evweb: a listener, a BufferEvent per client, SIGINT.

Every client that connects to 127.0.0.1:9995 gets "Hello, World!" and is
disconnected once the answer is flushed. Ctrl-C exits cleanly after two
seconds. Follows sample/hello-world.c step by step, with evweb's names.

    python apps/hello_world.py [--port 9995]
    python apps/hello_world.py --self-test    # fetch the greeting, interrupt itself
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from typing import Any

from evweb.io import BevEvent, BevOption, Listener, ListenerFlag, SocketBufferEvent
from evweb.reactor import READ, WRITE, EventBase

MESSAGE = b"Hello, World!\n"


def listener_cb(listener: Listener, sock: socket.socket, address: Any) -> None:
    """A client arrived: greet it through a BufferEvent that owns its socket."""
    bev = SocketBufferEvent(listener.base, sock, BevOption.CLOSE_ON_FREE)
    bev.set_callbacks(write=conn_writecb, event=conn_eventcb)
    bev.enable(WRITE)
    bev.disable(READ)
    bev.write(MESSAGE)


def conn_writecb(bev: SocketBufferEvent, arg: Any) -> None:
    """The output drained: the greeting is out, hang up."""
    if not bev.output:
        print("flushed answer", flush=True)
        bev.close()


def conn_eventcb(bev: SocketBufferEvent, what: int, arg: Any) -> None:
    """The client went away first, or the connection failed."""
    if what & BevEvent.EOF:
        print("Connection closed.", flush=True)
    elif what & BevEvent.ERROR:
        print(f"Got an error on the connection: {bev.error}", flush=True)
    bev.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9995)
    parser.add_argument("--exit-delay", type=float, default=2.0)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    base = EventBase()
    listener = Listener.bind(
        base,
        listener_cb,
        ("127.0.0.1", 0 if args.self_test else args.port),
        flags=ListenerFlag.REUSEABLE,
    )

    def signal_cb(signo: int, what: int, arg: Any) -> None:
        print(f"Caught an interrupt signal; exiting cleanly in {args.exit_delay:g} seconds.")
        base.loopexit(args.exit_delay)

    signal_event = base.signal(signal.SIGINT, signal_cb)
    signal_event.add()
    host, port = listener.address[:2]
    print(f"listening on {host}:{port}", flush=True)
    if args.self_test:
        threading.Thread(target=_fetch_then_interrupt, args=((host, port),)).start()
    base.dispatch()
    listener.close()
    signal_event.delete()
    base.close()
    print("done")
    return 0


def _fetch_then_interrupt(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as client:
        answer = b""
        while chunk := client.recv(100):
            answer += chunk
    print(f"client got {answer!r}", flush=True)
    signal.raise_signal(signal.SIGINT)  # the main thread runs the handler


if __name__ == "__main__":
    sys.exit(main())
