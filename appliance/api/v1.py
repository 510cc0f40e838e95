"""The /api/v1 route table that the route modules register on."""

from __future__ import annotations

from appliance.api.registry import Api

PREFIX = "/api/v1"
api = Api("api", PREFIX)
