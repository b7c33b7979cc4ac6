"""OpenAI's error envelope: ``ApiError`` carries status, message, type, param and code."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "bad_request",
    "invalid_type",
    "invalid_value",
    "json_type_name",
    "missing_parameter",
    "not_found",
    "unknown_parameter",
]

INVALID_REQUEST = "invalid_request_error"


class ApiError(Exception):
    """An error answered to the client as ``{"error": {message, type, param, code}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI sends for this error."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, message, param=param, code=code)


def not_found(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    """A 404 ``invalid_request_error``."""
    return ApiError(404, message, param=param, code=code)


def missing_parameter(param: str) -> ApiError:
    """400 for a required parameter that is absent."""
    return bad_request(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def unknown_parameter(param: str) -> ApiError:
    """400 for a parameter the endpoint does not know."""
    return bad_request(f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
}


def json_type_name(value: Any) -> str:
    """OpenAI's wording for the JSON type of ``value`` ("a string", "an array", …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    """400 ``invalid_type``: ``expected`` is a JSON type name (string, integer, number, …) or a phrase."""
    want = _TYPE_NAMES.get(expected, expected)
    return bad_request(
        f"Invalid type for '{param}': expected {want}, but got {json_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(param: str, value: Any, supported: list[str] | None = None, *, why: str = "") -> ApiError:
    """400 ``invalid_value``, listing the supported values when given."""
    message = f"Invalid value: '{value}'."
    if supported:
        message += " Supported values are: " + ", ".join(f"'{s}'" for s in supported) + "."
    if why:
        message = f"Invalid '{param}': '{value}'. {why}"
    return bad_request(message, param=param, code="invalid_value")
