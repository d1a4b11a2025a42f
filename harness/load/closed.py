"""Closed load with no think time, as one Locust task that never returns: the harness's users
(locustfile.py) and selfcheck's plain user with the lean client (plain_locustfile.py), so that
the two differ only in the hooks. Imported in Locust's process only (it imports Locust)."""

from __future__ import annotations

from typing import Any, NoReturn

import gevent
from locust.exception import StopUser
from locust.user.users import LOCUST_STATE_STOPPING


def closed_loop(user: Any, path: str, name: str, headers: dict[str, str] | None) -> NoReturn:
    """Closed load, no think time: the next request as soon as the last is answered, in one
    task that never returns. Locust's own loop (a task, then wait_time's gevent.sleep(0) and
    the bookkeeping around it, then the next task) cost a seventh of the generator's CPU per
    request; what it did is kept: a stop asked for while a request is under way takes effect
    when it is answered (Locust's StopUser, as its wait would raise), and a failure that came
    back without the greenlet ever waiting (a refused connection) yields to the others before
    the next try."""
    get = user.client.get
    while True:
        response = get(path, name=name, headers=headers)
        if user._state == LOCUST_STATE_STOPPING:
            raise StopUser()
        if getattr(response, "error", None) is not None:
            gevent.sleep(0)
