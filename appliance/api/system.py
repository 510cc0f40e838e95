"""Health, the OpenAPI document and the permission table."""

from __future__ import annotations

from typing import Any, cast

from flask import current_app

from appliance import __version__
from appliance.api import openapi
from appliance.api.registry import Call
from appliance.api.schemas import Health, PermissionOut, PermissionTable, RoleName
from appliance.api.v1 import PREFIX, api
from appliance.catalog.queries import head
from protocol.permissions import PERMISSIONS


@api.route(
    "GET", "/health", summary="Is the appliance up", tag="system", auth="public", response=Health
)
def health(call: Call) -> Health:
    """Always answers while the server runs; says which store and software version this is."""
    return Health(
        status="ok", store=call.rt.store, version=__version__, catalog_version=head(call.rt.db)
    )


@api.route(
    "GET",
    "/openapi.json",
    summary="This API, as an OpenAPI 3.1 document",
    tag="system",
    auth="public",
    response=dict[str, Any],
)
def openapi_document() -> dict[str, Any]:
    """Every endpoint, its parameters, bodies, responses and errors."""
    cached: dict[str, Any] | None = current_app.extensions.get("tillbox_openapi")
    if cached is None:
        cached = openapi.build(
            api.operations, prefix=PREFIX, title="Tillbox appliance API", version=__version__
        )
        current_app.extensions["tillbox_openapi"] = cached
    return cached


@api.route(
    "GET",
    "/permissions",
    summary="The permission table",
    tag="staff",
    auth="device",
    response=PermissionTable,
)
def permissions() -> PermissionTable:
    """Each action's minimum role, and whether a higher role may approve it on the spot."""
    return PermissionTable(
        permissions=[
            PermissionOut(
                action=p.action.value,
                label=p.label,
                min_role=cast(RoleName, p.min_role.slug),
                approvable=p.approvable,
                amount_bound=p.amount_bound,
            )
            for p in PERMISSIONS.values()
        ]
    )
