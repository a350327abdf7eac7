"""Who may touch the one shared baseline, and when.

The candidates of a pilot get their data from the restored baseline (their upgrade steps
read from it: a `pg_dump` streamed into the candidate) and may write into it afterwards
(a rollback moves the candidate's data back, then the baseline is verified). With several
candidates these must not overlap: a rollback that drops a database while another
candidate's dump still reads it would give that candidate a false FAIL. So:

- an upgrade reads only once the baseline holds the restored data;
- a rollback writes only once the baseline's own checks are done (they must see the
  client's data as restored) and every candidate's upgrade has read (or given up);
- upgrades and rollbacks touch the baseline one at a time.

Every wait looks at the cancel token, so a stopped run never hangs here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator

from lab.cancel import POLL, Token


class BaselineGuard:
    def __init__(self, upgrading: Iterable[str], token: Token):
        self._cond = threading.Condition()
        self._restored = False  # the baseline holds the client's data, or never will
        self._checked = False  # the baseline's checks are done, or never will be
        self._reading = set(upgrading)  # candidates whose upgrade has still to read
        self._busy = ""  # the candidate touching the baseline now
        self._token = token

    def restored(self) -> None:
        """The baseline's restore is over (whatever its outcome): upgrades may read."""
        with self._change():
            self._restored = True

    def checked(self) -> None:
        """The baseline's checks are over: rollbacks may write (once every upgrade has read)."""
        with self._change():
            self._checked = True

    def baseline_gone(self) -> None:
        """The baseline's copy ended, whatever happened: nobody waits for it any longer."""
        with self._change():
            self._restored = self._checked = True

    def done_reading(self, candidate: str) -> None:
        """`candidate` will not read from the baseline (any more): it upgraded or stopped."""
        with self._change():
            self._reading.discard(candidate)

    @contextlib.contextmanager
    def reading(self, candidate: str) -> Iterator[None]:
        """An upgrade of `candidate` reading from the baseline."""
        with self._turn(candidate, lambda: self._restored):
            yield
        self.done_reading(candidate)

    @contextlib.contextmanager
    def writing(self, candidate: str) -> Iterator[None]:
        """A rollback of `candidate` that may write into the baseline."""
        with self._turn(candidate, lambda: self._checked and not self._reading):
            yield

    @contextlib.contextmanager
    def _turn(self, candidate: str, ready: Callable[[], bool]) -> Iterator[None]:
        with self._cond:
            self._token.check()
            while self._busy or not ready():
                self._token.check()
                self._cond.wait(POLL)
            self._busy = candidate
        try:
            yield
        finally:
            with self._change():
                self._busy = ""

    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        with self._cond:
            yield
            self._cond.notify_all()
