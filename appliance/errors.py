"""The error hierarchy the appliance raises: webui.errors, shared with the cloud's HQ pages
(decisions.md, "One web UI package"), named here so the appliance's modules keep importing `appliance.errors`."""

from __future__ import annotations

from webui.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    Locked,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Invalid",
    "Locked",
    "NotFound",
    "TooLarge",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
]
