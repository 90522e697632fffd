"""The waiting room: round-robin across fairness keys, first-come first-served within a key.

One organization sending 100 requests must not delay another's single request by 100 turns:
each admission takes the oldest request of the next key in turn, so k keys with waiting work
each get one admission in every k.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        # Keys with waiting items, in turn order: the first key is served next.
        self._queues: OrderedDict[Hashable, deque[T]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, key: Hashable, item: T) -> None:
        # A key that had nothing waiting joins at the back of the turn order.
        self._queues.setdefault(key, deque()).append(item)
        self._size += 1

    def pop(self) -> T:
        """The oldest item of the key whose turn it is; that key moves to the back."""
        if not self._size:
            raise IndexError("pop from an empty FairQueue")
        key, queue = next(iter(self._queues.items()))
        item = queue.popleft()
        self._size -= 1
        if queue:
            self._queues.move_to_end(key)
        else:
            del self._queues[key]
        return item

    def remove(self, key: Hashable, item: T) -> bool:
        """Take ``item`` out (a cancelled request); False if it is not waiting."""
        queue = self._queues.get(key)
        if queue is None:
            return False
        try:
            queue.remove(item)
        except ValueError:
            return False
        self._size -= 1
        if not queue:
            del self._queues[key]
        return True

    def drain(self) -> list[T]:
        """Every waiting item (on shutdown), oldest key first."""
        items = [item for queue in self._queues.values() for item in queue]
        self._queues.clear()
        self._size = 0
        return items
