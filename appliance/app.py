"""The appliance's Flask app factory. Nothing starts at import; devices and sync start in serve."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, render_template, send_from_directory

from appliance import __version__, admin, api
from appliance.catalog.queries import head
from appliance.runtime import Runtime, open_runtime
from appliance.settings import Settings

# Where `npm run build` leaves the PWA in a source checkout.
SOURCE_PWA_DIR = Path(__file__).resolve().parent.parent / "pwa" / "dist"


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Flask:
    """Build the appliance app for one store's data directory."""
    app = Flask(__name__, static_folder=None, template_folder="templates")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
    )
    app.extensions["tillbox"] = runtime or open_runtime(settings)
    api.init_app(app)
    admin.init_app(app)
    _init_pwa(app, settings.pwa_dir or SOURCE_PWA_DIR)
    return app


def _status_page(rt: Runtime, *, pwa_built: bool) -> Response:
    """The appliance's own page: which store this is and what its catalog holds."""
    db = rt.db
    categories = [
        (row["name"], row["n"])
        for row in db.query(
            "SELECT c.name, count(*) AS n FROM variant v JOIN product p ON p.id = v.product_id"
            " JOIN category c ON c.id = p.category_id WHERE v.active = 1"
            " GROUP BY c.id ORDER BY c.name"
        )
    ]
    page = render_template(
        "status.html",
        store=rt.store,
        store_name=rt.settings.store_name or f"Store {rt.store}",
        version=__version__,
        variants=db.scalar("SELECT count(*) FROM variant WHERE active = 1"),
        categories=categories,
        catalog_version=head(db),
        registers=db.scalar("SELECT count(*) FROM register WHERE revoked_at IS NULL"),
        staff=db.scalar("SELECT count(*) FROM staff WHERE active = 1"),
        pwa_built=pwa_built,
    )
    return Response(page, mimetype="text/html")


def _init_pwa(app: Flask, root: Path) -> None:
    """Serve the cashier PWA's build at `/`; without a build, say so plainly."""

    def index() -> Response:
        if (root / "index.html").is_file():
            response = send_from_directory(root, "index.html")
            response.headers["Cache-Control"] = "no-cache"
            return response
        return _status_page(app.extensions["tillbox"], pwa_built=False)

    def asset(filename: str) -> Response:
        response = send_from_directory(root, filename)
        if filename.startswith("assets/"):
            # Vite puts a content hash in every asset name, so they never change.
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response

    app.add_url_rule("/", "pwa_index", index)
    # The service worker precaches the shell by this name (and serves it for every page).
    app.add_url_rule("/index.html", "pwa_index_html", index)
    # Explicit rules for the build's files, never a catch-all, so /api/… keeps its own 404/405.
    app.add_url_rule("/assets/<path:name>", "pwa_assets", lambda name: asset(f"assets/{name}"))
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.is_file() and path.name != "index.html":
                app.add_url_rule(
                    f"/{path.name}", f"pwa_{path.name}", lambda name=path.name: asset(name)
                )
            elif path.is_dir() and path.name not in ("assets", "api"):
                # Folders copied from the PWA's public/ (icons, fonts) keep their names.
                app.add_url_rule(
                    f"/{path.name}/<path:name>",
                    f"pwa_dir_{path.name}",
                    lambda name, folder=path.name: asset(f"{folder}/{name}"),
                )
