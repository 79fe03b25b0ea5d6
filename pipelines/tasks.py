"""Flows and tasks that run under Prefect when there is a Prefect API, and as plain calls otherwise.

A command records its flow run in Prefect when an API is configured (``PREFECT_API_URL``) or a
long-lived local server answers (``customs-risk serve`` keeps one), or when asked to start a
temporary server (``CUSTOMS_RISK_PREFECT_RUNS=temporary``); ``pipelines.runtime.choose_flow_runs``
decides once per command. Otherwise the same flow function runs in-process with nothing started
and Prefect not even imported: a Prefect server costs 5-15 s per command, more than a day's
scoring. Inside a Prefect flow run (a scheduled run of ``serve``, a flow called as a subflow)
every flow and task here is a real Prefect flow and task, whatever the mode.

Tasks keep their retries in both modes: passing I/O trouble is retried, bad input never is.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any


def in_prefect_run() -> bool:
    """True inside a Prefect flow run (without importing Prefect when nothing imported it)."""
    context = sys.modules.get("prefect.context")
    return context is not None and context.FlowRunContext.get() is not None


def _retry_unless_user_error(_task, _run, state) -> bool:
    """Prefect's retry condition: retry passing I/O trouble, never bad input (a bad file stays bad)."""
    from pipelines.errors import user_errors

    return not isinstance(getattr(state, "data", None), user_errors())


class FrameTask:
    """A step of a flow: a Prefect task (no input hashing, no result persistence: frames are
    passed in memory) inside a Prefect flow run, the plain function with the same retries outside."""

    def __init__(self, fn: Callable, retries: int = 0, retry_delay_seconds: list[float] | None = None, **kw):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.retries = retries
        self.delays = list(retry_delay_seconds or [0])
        self.options = kw

    @functools.cached_property
    def prefect_task(self):
        from prefect import task
        from prefect.cache_policies import NO_CACHE

        options = {"retry_condition_fn": _retry_unless_user_error, **self.options}
        return task(
            cache_policy=NO_CACHE,
            persist_result=False,
            retries=self.retries,
            retry_delay_seconds=self.delays if self.retries else 0,
            **options,
        )(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if in_prefect_run():
            return self.prefect_task(*args, **kwargs)
        from pipelines.errors import user_errors

        for attempt in range(self.retries + 1):
            try:
                return self.fn(*args, **kwargs)
            except user_errors():
                raise
            except Exception:
                if attempt == self.retries:
                    raise
                time.sleep(self.delays[min(attempt, len(self.delays) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover


def frame_task(**kw) -> Callable[[Callable], FrameTask]:
    """Decorate a flow step (see :class:`FrameTask`); ``retries`` and ``retry_delay_seconds`` as
    Prefect's."""
    return lambda fn: FrameTask(fn, **kw)


class PipelineFlow:
    """A flow: a Prefect flow when this command records its runs in Prefect (or when called inside
    another flow run, as a subflow), the plain function otherwise. ``.fn`` is the function;
    anything else (``to_deployment``, ``with_options``) is the Prefect flow's."""

    def __init__(self, fn: Callable, **options):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.options = options

    @functools.cached_property
    def prefect_flow(self):
        from prefect import flow

        return flow(**self.options)(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from pipelines.runtime import flow_runs_recorded, wait_for_flow_server

        if in_prefect_run() or flow_runs_recorded():
            wait_for_flow_server()
            return self.prefect_flow(*args, **kwargs)
        return self.fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.prefect_flow, name)


def pipeline_flow(**options) -> Callable[[Callable], PipelineFlow]:
    """Decorate a flow (see :class:`PipelineFlow`); ``options`` as Prefect's ``@flow``."""
    return lambda fn: PipelineFlow(fn, **options)
