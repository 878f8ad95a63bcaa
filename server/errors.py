"""API errors in the `{error, detail}` shape, and handlers so bad input never becomes a 500."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException, ValidationException
from sqlalchemy.exc import DBAPIError

from server.common.text import readable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client can act on: HTTP status, a machine code and a sentence for a person."""

    def __init__(self, status: int, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.extra = status, error, detail, extra


def bad_request(detail: str, **extra: Any) -> ApiError:
    return ApiError(422, "validation_error", detail, **extra)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} does not exist")


def conflict(error: str, detail: str) -> ApiError:
    return ApiError(409, error, detail)


def _body(error: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, **extra}


def api_error_handler(_: Request, exc: ApiError) -> Response:
    return Response(_body(exc.error, exc.detail, **exc.extra), status_code=exc.status)


def http_exception_handler(_: Request, exc: HTTPException) -> Response:
    codes = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 429: "too_many_requests"}
    status = exc.status_code
    if isinstance(exc, ValidationException):
        # Litestar's own parameter/body validation: say which field, as 422 like our own checks.
        extra = exc.extra if isinstance(exc.extra, list) else []
        parts = [f"{e.get('key', '?')}: {readable(str(e.get('message', '')))}" for e in extra if isinstance(e, dict)]
        detail = "; ".join(parts) or exc.detail
        return Response(_body("validation_error", detail), status_code=422)
    if isinstance(exc, NotAuthorizedException):
        return Response(_body("unauthorized", exc.detail), status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, PermissionDeniedException):
        return Response(_body("forbidden", exc.detail), status_code=403)
    if status >= 500:
        log.error("server error", exc_info=exc)
        return Response(_body("internal_error", "the server failed; the incident was logged"), status_code=status)
    return Response(_body(codes.get(status, "error"), exc.detail), status_code=status)


def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(_body("internal_error", "the server failed; the incident was logged"), status_code=500)


# PostgreSQL refusing a character in text: NUL (22021) or one the encoding cannot hold (22P05). The schemas
# refuse control characters up front; this keeps any field they miss a 4xx rather than a 500.
_BAD_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def database_error_handler(request: Request, exc: DBAPIError) -> Response:
    if getattr(exc.orig, "sqlstate", None) in _BAD_TEXT_SQLSTATES:
        log.warning("text refused by the database on %s %s", request.method, request.url.path)
        return Response(_body("validation_error", "a text field holds a character that cannot be stored "
                              "(a NUL or other control character); remove it and resend"), status_code=422)
    return unexpected_error_handler(request, exc)


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    DBAPIError: database_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}
