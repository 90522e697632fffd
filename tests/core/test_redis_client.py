"""One Redis client per process, even when threads race for the first one."""

import threading
import time

from core.redis import OnePerProcess


def test_threads_racing_for_the_first_client_all_get_the_same_one():
    made = []

    def make():
        time.sleep(0.01)  # slow enough that every racer arrives before the first one is made
        made.append(object())
        return made[-1]

    shared = OnePerProcess(make)
    barrier = threading.Barrier(16)
    got = []
    threads = [threading.Thread(target=lambda: (barrier.wait(), got.append(shared()))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and all(client is made[0] for client in got)
    shared.reset()
    assert shared() is not made[0]
