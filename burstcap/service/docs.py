"""API documentation that works offline: Swagger UI at ``/docs``.

FastAPI's own page loads its scripts from a CDN, so it is blank on a network without internet (a phone
on the camera's Wi-Fi often has none). Here the same page loads the Swagger UI 5 files shipped in the
``fastapi-offline`` package, served by this app under ``/docs-assets``. There is no ``/redoc``: ReDoc's
script fetches its logo from a CDN at run time, so it cannot be made fully offline.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the documentation scripts are served.
ASSETS_URL = "/docs-assets"


def assets_dir() -> Path:
    """The folder holding swagger-ui-bundle.js, swagger-ui.css and favicon.png."""
    return Path(str(files("fastapi_offline") / "static"))


def add_offline_docs(app: FastAPI) -> None:
    """Serve ``/docs`` from local files; ``app`` needs ``docs_url=None, redoc_url=None``."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the FastAPI app with docs_url=None and redoc_url=None")
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - API",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon.png")
