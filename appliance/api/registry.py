"""Declared API routes: one decorator parses, authenticates and renders, and feeds OpenAPI."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from flask import Blueprint, Response, current_app, request
from werkzeug.routing import BaseConverter, Map

from appliance.errors import (
    BadRequest,
    Forbidden,
    Invalid,
    TooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from appliance.runtime import Runtime
from appliance.staff.sessions import Caller, resolve
from protocol.permissions import PERMISSIONS, Action, Role

_log = logging.getLogger(__name__)

Auth = Literal["public", "device", "staff"]
_RULE_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


class PatternConverter(BaseConverter):
    """A URL part that must match a regular expression, e.g. `<re("s[0-9]+"):store>`.

    Path parameters with a pattern use it, so `/registers/current` never reaches the
    `/registers/<register_id>` rule and the Allow header lists only what the path serves.
    """

    def __init__(self, url_map: Map, pattern: str) -> None:
        super().__init__(url_map)
        self.regex = pattern


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """What a route handler gets besides its parsed body, query and path values."""

    rt: Runtime
    caller: Caller | None
    remote_addr: str

    def staff_caller(self) -> Caller:
        """The caller, known to have a staff session (routes with auth='staff')."""
        assert self.caller is not None and self.caller.staff is not None
        return self.caller

    def device_caller(self) -> Caller:
        """The caller, known to be at least a paired register (auth='device' or 'staff')."""
        assert self.caller is not None
        return self.caller


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler result with a status other than the route's default, or extra headers."""

    body: Any
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One documented route."""

    method: str
    rule: str
    name: str
    summary: str
    description: str
    tag: str
    auth: Auth
    role: Role | None
    body: type | None
    query: type | None
    response: Any
    status: int
    path_params: dict[str, dict[str, Any]]
    errors: tuple[int, ...]
    # What a successful answer is: JSON of `response`, or e.g. a text/event-stream whose
    # events carry `response` as their data.
    media_type: str = "application/json"
    # Request headers the route reads, documented as header parameters.
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


class Api:
    """A blueprint plus the list of operations it serves, for the OpenAPI document."""

    def __init__(self, name: str, prefix: str) -> None:
        self.blueprint = Blueprint(name, __name__, url_prefix=prefix)
        self.prefix = prefix
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        rule: str,
        *,
        summary: str,
        tag: str,
        auth: Auth,
        role: Role | None = None,
        action: Action | None = None,
        body: type | None = None,
        query: type | None = None,
        response: Any = None,
        status: int = 200,
        path: dict[str, dict[str, Any]] | None = None,
        errors: tuple[int, ...] = (),
        media_type: str = "application/json",
        headers: dict[str, dict[str, Any]] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a route. `action` gates it by the permission table (no on-the-spot override);
        `role` gates it by a minimum role; approvable actions are checked in the handler."""
        if action is not None:
            permission = PERMISSIONS[action]
            if permission.approvable:
                raise ValueError(
                    f"{action} is approvable: check it in the handler with authorize()"
                )
            role = permission.min_role
        if role is not None and auth != "staff":
            raise ValueError("a role-gated route needs auth='staff'")
        names = _RULE_PARAM.findall(rule)
        path_params = {name: (path or {}).get(name, {"type": "string"}) for name in names}
        flask_rule = rule
        for name, schema in path_params.items():
            if "pattern" in schema:
                regex = schema["pattern"].removeprefix("^").removesuffix("$")
                flask_rule = flask_rule.replace(f"<{name}>", f'<re("{regex}"):{name}>')

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            wanted = inspect.signature(handler).parameters
            operation = Operation(
                method=method,
                rule=rule,
                name=handler.__name__,
                summary=summary,
                description=inspect.cleandoc(handler.__doc__ or summary),
                tag=tag,
                auth=auth,
                role=role,
                body=body,
                query=query,
                response=response,
                status=status,
                path_params=path_params,
                errors=errors,
                media_type=media_type,
                headers=dict(headers or {}),
            )
            self.operations.append(operation)

            def view(**path_values: str) -> Response:
                rt: Runtime = current_app.extensions["tillbox"]
                caller = _authenticate(rt, auth, role)
                kwargs: dict[str, Any] = dict(path_values)
                if body is not None:
                    kwargs["body"] = _parse_body(body)
                if query is not None:
                    kwargs["query"] = _parse_query(query)
                if "call" in wanted:
                    kwargs["call"] = Call(
                        rt=rt, caller=caller, remote_addr=request.remote_addr or ""
                    )
                return render(handler(**kwargs), status)

            view.__name__ = handler.__name__
            # No automatic OPTIONS: the PWA is same-origin; the API answers only what it documents.
            view.provide_automatic_options = False  # type: ignore[attr-defined]
            self.blueprint.add_url_rule(
                flask_rule, endpoint=handler.__name__, view_func=view, methods=[method]
            )
            return handler

        return decorator


def _authenticate(rt: Runtime, auth: Auth, role: Role | None) -> Caller | None:
    """The caller behind the Authorization header, checked against what the route needs."""
    if auth == "public":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send a device or staff token as `Authorization: Bearer …`")
    caller = resolve(rt, token.strip())
    if auth == "staff":
        staff = caller.require_staff()
        if role is not None and staff.role < role:
            raise Forbidden(
                f"this needs a {role.slug}; {staff.name} is a {staff.role.slug}",
                code="role_required",
                details={"min_role": role.slug},
            )
    return caller


def _parse_body(kind: type) -> Any:
    """The JSON body as `kind`, or the right 4xx."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the body is larger than {limit} bytes")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    data = request.get_data(cache=False)
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise Invalid(str(exc), code="invalid_body", details=_where(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="malformed_json") from None


def _parse_query(kind: type) -> Any:
    """The query string as `kind` (strings converted), or 422."""
    values = {key: request.args.get(key) for key in request.args}
    try:
        return msgspec.convert(values, type=kind, strict=False)
    except msgspec.ValidationError as exc:
        raise Invalid(str(exc), code="invalid_query", details=_where(exc)) from None


def _where(exc: msgspec.ValidationError) -> dict[str, str] | None:
    """The JSON path msgspec names in a validation error, if it names one."""
    match = re.search(r"at `([^`]+)`$", str(exc))
    return {"path": match.group(1)} if match else None


_encoder = msgspec.json.Encoder()


def render(result: Any, status: int) -> Response:
    """Encode a handler's result as a JSON response."""
    headers: dict[str, str] = {}
    if isinstance(result, Reply):
        status, headers, result = result.status, result.headers, result.body
    if isinstance(result, Response):
        return result
    if status == 204 or result is None:
        return Response(status=204, headers=headers)
    payload = result if isinstance(result, bytes) else _encoder.encode(result)
    response = Response(payload, status=status, mimetype="application/json", headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response
