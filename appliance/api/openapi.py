"""The OpenAPI 3.1 document, built from the declared operations and their msgspec types."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from appliance.api.registry import Operation

REF = "#/components/schemas/{name}"

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "The body is not valid JSON",
    401: "No token, or a wrong, expired or revoked one",
    403: "The caller's role may not do this",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflicts with what is stored",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "The request breaks a rule; `details` says where",
    429: "Locked after too many wrong PINs; Retry-After says for how long",
    502: "The cloud answered with something that is not an answer, or said it could not answer",
    503: "Busy (a long database write, or every scan stream in use), stopping, or the cloud "
    "cannot be asked (cloud_offline, cloud_timeout); nothing was stored, retry after Retry-After",
}


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    """The one error shape every 4xx and 5xx uses."""

    error: str
    message: str
    details: Any = None


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def build(operations: list[Operation], *, prefix: str, title: str, version: str) -> dict[str, Any]:
    """The whole document."""
    types: list[Any] = [ErrorBody]
    for op in operations:
        for kind in (op.body, op.query, op.response):
            if kind is not None:
                types.append(kind)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    refs = dict(zip([id(t) for t in types], schemas, strict=True))

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "description": op.description,
            "tags": [op.tag],
            "security": [] if op.auth == "public" else [{"bearerAuth": []}],
        }
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in op.path_params.items()
        ]
        parameters += [
            {"name": name, "in": "header", "required": False, "schema": schema}
            for name, schema in op.headers.items()
        ]
        if op.query is not None:
            component = components[op.query.__name__]
            required = set(component.get("required", ()))
            for name, schema in component["properties"].items():
                parameters.append(
                    {"name": name, "in": "query", "required": name in required, "schema": schema}
                )
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[id(op.body)]}},
            }
        responses: dict[str, Any] = {}
        if op.status == 204:
            responses["204"] = {"description": _STATUS_TEXT[204]}
        else:
            content: dict[str, Any] = {}
            if op.response is not None and op.media_type == "application/json":
                content = {"application/json": {"schema": refs[id(op.response)]}}
            elif op.response is not None:
                # OpenAPI 3.1 cannot describe the items of a stream: the body is text, and
                # the extension names the schema of each event's data.
                content = {
                    op.media_type: {
                        "schema": {"type": "string"},
                        "x-event-data": refs[id(op.response)],
                    }
                }
            responses[str(op.status)] = {"description": _STATUS_TEXT.get(op.status, "OK")}
            if content:
                responses[str(op.status)]["content"] = content
        codes = {*op.errors, 503}
        if op.auth != "public":
            codes |= {401, 403}
        if op.body is not None:
            codes |= {400, 413, 415, 422}
        if op.query is not None:
            codes.add(422)
        if op.path_params:
            codes.add(404)
        for code in sorted(codes):
            responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
        entry["responses"] = responses
        paths.setdefault(prefix + _openapi_path(op.rule), {})[op.method.lower()] = entry

    error_codes = sorted(c for c in _STATUS_TEXT if c >= 400)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The store appliance's HTTP API. Every error has the shape "
            '`{"error": code, "message": text, "details": …}`.',
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A register's device token (`tbd_…`) or a staff session "
                    "token (`tbs_…`).",
                }
            },
            "responses": {
                f"E{code}": {
                    "description": _STATUS_TEXT[code],
                    "content": {
                        "application/json": {"schema": {"$ref": REF.format(name="ErrorBody")}}
                    },
                }
                for code in error_codes
            },
        },
    }
