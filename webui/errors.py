"""The error hierarchy shared by the appliance and the cloud: code raises these; one handler renders them
in the one error shape, {"error", "message", "details"}."""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """An error with an HTTP status and a machine-readable code, shown to the caller."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code

    def headers(self) -> dict[str, str]:
        """Extra response headers this error calls for."""
        return {}

    def to_json(self) -> dict[str, Any]:
        """The one error shape: {"error", "message", "details"}."""
        return {"error": self.code, "message": self.message, "details": self.details}


class BadRequest(ApiError):
    """The request could not be read (malformed JSON, wrong content type)."""

    status = 400
    code = "bad_request"


class Invalid(ApiError):
    """The request was read but breaks a rule (schema, business rule, CSV row)."""

    status = 422
    code = "invalid"


class Unauthorized(ApiError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """The thing asked for does not exist."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request clashes with what is already stored."""

    status = 409
    code = "conflict"


class Locked(ApiError):
    """Too many failed PIN attempts: the staff member or device is locked out for a while.

    429 with Retry-After, as for any brute-force throttle, so clients back off generically.
    """

    status = 429
    code = "locked"

    def headers(self) -> dict[str, str]:
        """Retry-After in seconds, when the lockout's end is known."""
        retry = (self.details or {}).get("retry_after_s")
        return {"Retry-After": str(retry)} if retry is not None else {}


class TooManyRequests(ApiError):
    """Too many attempts in a short time (the admin sign-in throttle): 429 with Retry-After."""

    status = 429
    code = "rate_limited"

    def headers(self) -> dict[str, str]:
        """Retry-After in seconds."""
        retry = (self.details or {}).get("retry_after_s")
        return {"Retry-After": str(retry)} if retry is not None else {}


class TooLarge(ApiError):
    """The body is bigger than the appliance accepts."""

    status = 413
    code = "too_large"


class UnsupportedMediaType(ApiError):
    """The body is not JSON."""

    status = 415
    code = "unsupported_media_type"


class Unavailable(ApiError):
    """The appliance cannot take this request right now (all scan streams in use, shutting
    down). 503 with Retry-After: nothing was changed, and asking again later may work."""

    status = 503
    code = "unavailable"

    def headers(self) -> dict[str, str]:
        """Retry-After in seconds, when the error says how long to wait."""
        retry = (self.details or {}).get("retry_after_s")
        return {"Retry-After": str(retry)} if retry is not None else {}
