"""Errors that carry their HTTP status, rendered as RFC 9457 problem details.

Route code raises :class:`Problem`; the app turns it (and anything unexpected) into an
``application/problem+json`` body without a stack trace.
"""

from __future__ import annotations

from typing import Any

from twin.errors import TwinError

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(TwinError):
    """A request the service refuses, with the HTTP status to answer it with.

    Examples
    --------
    >>> Problem(404, "no collection 'x'").body()["title"]
    'Not Found'
    """

    def __init__(self, status: int, detail: str, /, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The RFC 9457 problem document."""
        return {
            "type": "about:blank",
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }


def not_found(collection_id: str, /) -> Problem:
    """The one answer for a collection that is missing or that the caller may not see."""
    return Problem(404, f"no collection {collection_id!r}")
