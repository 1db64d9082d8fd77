"""A TCP proxy on loopback that a test can cut and restore, to take a real Postgres or RabbitMQ
"away" from one process without stopping it for everybody else."""

import socket
import threading
from urllib.parse import urlsplit


class InFrontOf:
    """A loopback listener standing in front of the service a URL names."""

    port: int

    @classmethod
    def in_front_of(cls, url: str):
        """One for the service a URL names (postgresql://…, amqp://…)."""
        return cls(target_port=urlsplit(url).port)

    def route(self, url: str) -> str:
        """The same URL, reaching its service through this listener."""
        parts = urlsplit(url)
        return parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{self.port}").geturl()


class Proxy(InFrontOf):
    def __init__(self, *, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until `restore()`."""
        self._up.clear()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the other pipe's blocked recv
                except OSError:
                    pass
                sock.close()
