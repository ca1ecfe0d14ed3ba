"""Hooks for schemathesis runs against the planner API (``tests/schemathesis.toml`` loads them).

One failure is accepted, and checked rather than ignored: OGC API - Features answers a
``limit`` above the maximum the API document states with at most that many features instead
of an error (the document says so), while schemathesis's ``negative_data_rejection`` expects
a 4xx for it. Only a request whose sole invalid part is such a limit is let through, and only
when the server answered 200 with no more features than the maximum.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData, Failure

ITEMS = "/collections/{collectionId}/items"


@schemathesis.hook
def filter_failure(context: Any, failure: Failure, case: Any, response: Any) -> bool:
    """Keep every failure but a ``limit`` above the maximum that the server clamped."""
    return not clamped_limit(failure, case, response)


def clamped_limit(failure: Failure, case: Any, response: Any) -> bool:
    """Whether ``failure`` is a negative case whose only invalid part is a ``limit`` above
    the documented maximum, answered 200 with at most that many features."""
    if not isinstance(failure, AcceptedNegativeData) or case.operation.path != ITEMS:
        return False
    data = case.meta.phase.data if case.meta is not None else None
    if data is None:
        return False
    named = {data.parameter, *(m.parameter for m in data.mutations)} - {None}
    maximum = case.operation.schema.raw_schema["components"]["parameters"]["limit"]["schema"][
        "maximum"
    ]
    try:  # an integer, or its text when the stateful phase sends it
        limit = int((case.query or {}).get("limit"))
    except (TypeError, ValueError):
        return False
    if named != {"limit"} or limit <= maximum or response.status_code != 200:
        return False
    media = response.headers.get("content-type", [""])[0]
    return not media.startswith("application/geo+json") or (
        response.json()["numberReturned"] <= maximum
    )
