"""The HTTP API under /api/v1: thin routes over the domain, one error shape, an OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

# Route modules register their routes on `api` when imported.
from appliance.api import (
    balances,
    catalog,
    chain,
    devices,
    scans,
    selling,
    staff,
    sync,
    system,
    transfers,
)
from appliance.api.registry import PatternConverter, render
from appliance.api.v1 import PREFIX, api
from appliance.db import DatabaseError
from appliance.errors import ApiError

_log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, details: Any = None) -> Response:
    return render({"error": code, "message": message, "details": details}, status)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def init_app(app: Flask) -> None:
    """Mount the API and its error handlers on the app."""
    app.url_map.converters["re"] = PatternConverter
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.register_blueprint(api.blueprint)
    app.extensions["tillbox_api"] = api

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        if exc.status >= 500:
            _log.error("api error %s: %s", exc.code, exc.message)
        response = _error(exc.status, exc.code, exc.message, exc.details)
        response.headers.update(exc.headers())
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith(PREFIX):
            return exc
        status = exc.code or 500
        response = _error(
            status, _HTTP_CODES.get(status, "http_error"), exc.description or exc.name
        )
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(DatabaseError)
    def database_error(exc: DatabaseError) -> Response:
        if "locked" in str(exc) or "busy" in str(exc):
            # Another process (a large CLI import) held the write lock past busy_timeout:
            # nothing was written, and trying again shortly will work.
            _log.warning("database busy on %s %s", request.method, request.path)
            response = _error(503, "busy", "the appliance is busy writing; try again shortly")
            response.headers["Retry-After"] = "2"
            return response
        _log.exception("database error on %s %s", request.method, request.path)
        return _error(500, "internal", "something went wrong on the appliance; it has been logged")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        _log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal", "something went wrong on the appliance; it has been logged")


__all__ = [
    "PREFIX",
    "api",
    "balances",
    "catalog",
    "chain",
    "devices",
    "init_app",
    "scans",
    "selling",
    "staff",
    "sync",
    "system",
    "transfers",
]
