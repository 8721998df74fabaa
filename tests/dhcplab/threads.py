"""The life cycle shared by the lab's client crowds (busy.BusyClients, population.Population)."""

import threading
import time


class ClientThreads:
    """Worker threads that run until ``stop()`` (or the end of the ``with`` block).

    A subclass sets ``self._threads`` (threading.Thread objects targeting its loop, which watches
    ``self._stop``) and may override ``_starting(now)`` to shift its schedule to the start time.
    """

    JOIN_SECONDS = 15

    def __init__(self):
        self._stop = threading.Event()
        self._threads = []
        self.started = None

    def _starting(self, now):
        pass

    def start(self):
        self.started = time.monotonic()
        self._starting(self.started)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.JOIN_SECONDS)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
