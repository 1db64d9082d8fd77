"""A TCP proxy that lets a client's first N bytes through, swallows the rest, then closes the
connection: to RabbitMQ, a publisher whose connection dies part way through a batch, after the
broker has received, routed and confirmed the messages that got through whole."""

import socket
import threading

from tests.support.proxy import InFrontOf


class Tripwire(InFrontOf):
    def __init__(self, *, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._budget: int | None = None  # bytes still let through to the broker; None: all
        self._close_after = 0.0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, *, after_bytes: int, close_after: float) -> None:
        """From now on let `after_bytes` more bytes reach the broker, then none; `close_after`
        seconds after the first byte swallowed, close the connection."""
        with self._lock:
            self._budget = after_bytes
            self._close_after = close_after

    def close(self) -> None:
        self._listener.close()
        self._shut_all()

    def _shut_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target, timeout=2)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._to_broker, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._to_client, args=(upstream, client), daemon=True).start()

    def _to_broker(self, source: socket.socket, sink: socket.socket) -> None:
        tripped = False
        try:
            while data := source.recv(65536):
                with self._lock:
                    allowed = len(data) if self._budget is None else min(len(data), self._budget)
                    if self._budget is not None:
                        self._budget -= allowed
                if allowed:
                    sink.sendall(data[:allowed])
                if allowed < len(data) and not tripped:
                    tripped = True
                    threading.Timer(self._close_after, self._shut_all).start()
        except OSError:
            pass

    def _to_client(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
