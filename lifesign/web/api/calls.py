"""The API's call log: every call, answered or refused, one row in `api_calls`.

`LoggedRoute` is the route class of every API endpoint. It times the call, turns an error into
the app's own error answer (the same handlers as everywhere: lifesign.web.errors) so that the
status is known, and writes the row after the answer is sent (a background task: the client
does not wait for the log). The path logged is the route's *template*
(`/api/v1/persons/{id_number}/status`): an ID number in a path never reaches the log.
"""

from __future__ import annotations

import datetime as dt
import inspect
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine, Table, insert
from starlette.background import BackgroundTask, BackgroundTasks

from lifesign.web.api.models import ApiCall

calls_t = cast(Table, ApiCall.__table__)


@dataclass
class CallLog:
    """What an endpoint tells the log about its call."""

    token_id: int | None = None
    department: str | None = None
    items: int = 0

    def identify(self, token_id: int, department: str) -> None:
        self.token_id = token_id
        self.department = department


def call_log_of(request: Request) -> CallLog:
    log = getattr(request.state, "api_call", None)
    if not isinstance(log, CallLog):
        log = CallLog()
        request.state.api_call = log
    return log


def count_items(request: Request, items: int) -> None:
    """How many items (ID numbers, records, decisions...) the call carried."""
    call_log_of(request).items = items


def write_call(
    engine: Engine,
    *,
    log: CallLog,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    at: dt.datetime,
) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(calls_t).values(
                token_id=log.token_id,
                department=log.department,
                method=method[:8],
                path=path[:256],
                status=status,
                items=log.items,
                duration_ms=round(duration_ms, 3),
                at=at,
            )
        )


async def _error_response(request: Request, error: Exception) -> Response | None:
    """The app's registered handler's answer for `error` (None: no handler — a crash)."""
    handlers = request.app.exception_handlers
    for kind in type(error).__mro__:
        handler = handlers.get(kind)
        if handler is not None:
            answer = handler(request, error)
            if inspect.isawaitable(answer):
                answer = await answer
            assert isinstance(answer, Response)
            return answer
    return None


API_PREFIX = "/api/v1"


def route_template(request: Request) -> str:
    """The template of the API route being called (e.g. /api/v1/persons/{id_number}/status)."""
    template = getattr(request.state, "api_route", None)
    return template if isinstance(template, str) else API_PREFIX


class LoggedRoute(APIRoute):
    """An API route whose every call is written to the call log."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        # FastAPI nests included routers: the route knows only its path inside the API's
        # router, whose prefix is API_PREFIX (lifesign.web.api.routes).
        template = API_PREFIX + self.path_format

        async def logged(request: Request) -> Response:
            started = time.perf_counter()
            at = dt.datetime.now(dt.UTC)
            request.state.api_route = template
            try:
                response = await handle(request)
            except Exception as error:
                answer = await _error_response(request, error)
                if answer is None:
                    _log_later(request, None, template, 500, started, at)
                    raise
                response = answer
            _log_later(request, response, template, response.status_code, started, at)
            return response

        return logged


def _log_later(
    request: Request,
    response: Response | None,
    template: str,
    status: int,
    started: float,
    at: dt.datetime,
) -> None:
    engine = request.app.state.engine
    task = BackgroundTask(
        write_call,
        engine,
        log=call_log_of(request),
        method=request.method,
        path=template,
        status=status,
        duration_ms=(time.perf_counter() - started) * 1000,
        at=at,
    )
    if response is None:  # a crash: no answer to attach the write to
        write_call(
            engine,
            log=call_log_of(request),
            method=request.method,
            path=template,
            status=status,
            duration_ms=(time.perf_counter() - started) * 1000,
            at=at,
        )
        return
    if response.background is None:
        response.background = task
    else:
        tasks = BackgroundTasks()
        tasks.add_task(response.background)
        tasks.add_task(task)
        response.background = tasks
