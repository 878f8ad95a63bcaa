"""API errors in the `{error, detail}` shape, and handlers so bad input never becomes a 500."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException, ValidationException
from litestar.params import BodyKwarg
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


def in_utc(value: datetime, field: str) -> datetime:
    """A client's aware time in UTC; one that has no UTC form (0001-01-01T00:00:00+14:00 is in year 0) is a 422."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise bad_request(f"{field}: {value.isoformat()} is out of range") from exc


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


_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.S)
_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`")


@cache
def _strict_decoder(body_type: Any) -> msgspec.json.Decoder:  # noqa: ANN401 - any msgspec-decodable type
    return msgspec.json.Decoder(body_type)


async def strict_json_body(request: Request) -> None:
    """before_request hook: a JSON body must have its schema's types exactly, as the OpenAPI contract says.

    Litestar converts a decoded body with msgspec's lax rules: `0` becomes `false`, `0` becomes
    1970-01-01T00:00:00Z, `"5"` becomes 5. A client bug would then record a grant as withdrawn or training in
    1970; here it is a 422 that names the field. Malformed JSON is a 400, as on POST /api/v1/detections."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    body_kwarg = getattr(data, "kwarg_definition", None)
    if not (isinstance(body_kwarg, BodyKwarg) and body_kwarg.media_type == RequestEncodingType.JSON):
        return  # only bodies declared JSONBody[...]: a file upload or form is not JSON
    body = await request.body()
    if not body:
        if data.is_optional:
            return
        raise bad_request("body: this call needs a JSON body", errors=[{"field": "body", "detail": "missing"}])
    try:
        _strict_decoder(data.annotation).decode(body)
    except msgspec.ValidationError as exc:
        m = _AT_PATH.match(readable(str(exc)))
        msg, path = (m["msg"], m["path"] or "") if m else (str(exc), "")
        if named := _NAMED_FIELD.match(msg):
            path = f"{path}.{named['name']}".lstrip(".")
        field = path or "body"
        raise bad_request(f"{field}: {msg}", errors=[{"field": field, "detail": msg}]) from exc
    except msgspec.DecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    DBAPIError: database_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}
