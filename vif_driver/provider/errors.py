"""Neutron-shaped API errors.

Every failure the provider reports travels as ``{"NeutronError": {"type",
"message", "detail"}}`` with a matching HTTP status, because that is what the
oVirt engine and python-neutronclient parse; ``type`` names the Neutron
exception so clients can map it to a specific exception class.
"""

from __future__ import annotations


class NeutronError(Exception):
    """An error that is reported to the client as-is."""

    status = 500
    type = "HTTPInternalServerError"

    def __init__(self, message: str, *, type: str | None = None,
                 status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if type is not None:
            self.type = type
        if status is not None:
            self.status = status

    def body(self) -> dict:
        """The JSON document sent to the client."""
        return {"NeutronError": {"type": self.type, "message": self.message,
                                 "detail": self.detail}}


class BadRequest(NeutronError):
    status = 400
    type = "HTTPBadRequest"


class InvalidInput(BadRequest):
    type = "InvalidInput"

    def __init__(self, message: str, **kw) -> None:
        super().__init__("Invalid input for operation: " + message, **kw)


class Unauthorized(NeutronError):
    status = 401
    type = "HTTPUnauthorized"


class Forbidden(NeutronError):
    status = 403
    type = "PolicyNotAuthorized"


class NotFound(NeutronError):
    status = 404
    type = "HTTPNotFound"


class Conflict(NeutronError):
    status = 409
    type = "Conflict"


def not_found(resource: str, res_id: str) -> NotFound:
    """``NetworkNotFound`` etc.: neutronclient maps it to *NotFoundClient."""
    label = resource.capitalize()
    return NotFound(f"{label} {res_id} could not be found.",
                    type=f"{label}NotFound")
