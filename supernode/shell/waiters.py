"""Long-poll parking for /peer/task (docs/decisions.md #1).

A caller that is about to answer 602 takes the task's current token *under the service lock*
(so no wake between its decision and its wait can be missed), releases the lock and waits on it.
`wake(task_id)` fires the current token and starts a new one. Tokens are threading.Events, which
gevent's monkey-patching makes cooperative.
"""

import threading


class Waiters:
    def __init__(self):
        self._lock = threading.Lock()
        self._tokens: dict[str, threading.Event] = {}

    def token(self, task_id: str) -> threading.Event:
        with self._lock:
            event = self._tokens.get(task_id)
            if event is None:
                event = self._tokens[task_id] = threading.Event()
            return event

    def wake(self, task_id: str) -> None:
        with self._lock:
            event = self._tokens.pop(task_id, None)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        with self._lock:
            events, self._tokens = list(self._tokens.values()), {}
        for event in events:
            event.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)
