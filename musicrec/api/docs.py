"""`/docs` (Swagger UI) with its script and styles served by the service itself.

FastAPI's own documentation pages load Swagger UI and ReDoc from a CDN, so offline (air-gapped
machines, many production networks) they are blank. This is the same Swagger UI page (FastAPI's
`get_swagger_ui_html`, its documented recipe for self-hosting the assets), with the assets read from
the `fastapi-offline` package, which ships copies of Swagger UI's bundle (pinned in the lock). The
assets are fixed-path routes rather than a mount, so the fixed-path dispatch keeps every service
route in its table (`musicrec.api.routing.FixedPathDispatch`).

`/redoc` is not kept: ReDoc's bundle loads its vendor's logo from that vendor's CDN on every view
(it cannot be switched off), so it would still reach outside; `/docs` and `/openapi.json` document
the same API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import as_file, files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"
# Each asset the pages load, and its media type.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


def assets_dir() -> Path:
    """The folder of the bundles inside the installed `fastapi-offline` package."""
    with as_file(files("fastapi_offline") / "static") as folder:  # a real folder: the package is not zipped
        return folder


def add_docs(app: FastAPI) -> None:
    """Add `/docs`, its OAuth2 redirect and its assets to `app` (made with `docs_url=None,
    redoc_url=None`), none of them in the OpenAPI schema."""
    app.router.routes.extend(docs_router(app).routes)


def docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    folder = assets_dir()
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline ships no {', '.join(missing)} in {folder}: reinstall the lock")

    @router.get(DOCS_URL)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @router.get(OAUTH2_REDIRECT_URL)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    for name, media_type in ASSETS.items():
        router.add_api_route(f"{ASSETS_URL}/{name}", _asset(folder / name, media_type), methods=["GET"])
    return router


def _asset(path: Path, media_type: str) -> Callable[[], Awaitable[FileResponse]]:
    async def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type)

    return asset
