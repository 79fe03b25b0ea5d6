"""Prefect tasks for the flows: frames passed around in memory, user errors never retried."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE


def _retry_unless_user_error(_task, _run, state) -> bool:
    """Retry passing I/O trouble, never bad input: a bad file stays bad."""
    from pipelines.errors import user_errors

    return not isinstance(getattr(state, "data", None), user_errors())


def frame_task(**kw):
    """A Prefect task that passes frames around: no input hashing, no result persistence."""
    kw.setdefault("retry_condition_fn", _retry_unless_user_error)
    return task(cache_policy=NO_CACHE, persist_result=False, **kw)
