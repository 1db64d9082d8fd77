"""One error root with a few precise subclasses; the api turns them into HTTP answers at the edge."""


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

    status_code = 400
    retry_after: int | None = None  # seconds, for answers a client should repeat later

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BadRequest(VigilError):
    """A request that is ambiguous rather than invalid: a header sent twice, say."""

    status_code = 400


class Unauthorized(VigilError):
    status_code = 401


class Forbidden(VigilError):
    status_code = 403


class NotFound(VigilError):
    status_code = 404


class Conflict(VigilError):
    status_code = 409


class Invalid(VigilError):
    status_code = 422


class Unavailable(VigilError):
    status_code = 503


class RateLimited(VigilError):
    status_code = 429
