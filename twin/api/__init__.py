"""The planner API: OGC API - Features (Parts 1-3) and Processes over a twin, secured.

``create_app(twin_path, config=...)`` returns the FastAPI application; ``twin serve`` runs it
with uvicorn. See ``docs/api.md``.
"""

from twin.api.app import create_app

__all__ = ["create_app"]
