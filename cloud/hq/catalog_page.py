"""The catalog master: the list (search, filters, paging, CSV), a product's editor (variants,
the option matrix, barcodes, cost and price, archive), categories and vendors, store prices,
CSV import with a dry run, and which catalog version each store runs.

HQ admins and buyers edit; store managers see the catalog read-only and set their own stores'
prices (decisions.md §56). The write logic is cloud/catalog_edit.py and cloud/catalog.py.
"""

from __future__ import annotations

import io
from datetime import datetime

from flask import Response, request

from appliance.catalog.records import Problem
from cloud import catalog as master
from cloud import catalog_edit, stock_grid
from cloud.catalog_edit import PRODUCT_ROW, CatalogFilter, EditRefused, ProductEdit, VariantEdit
from cloud.hq.accounts import HqRole
from cloud.hq.core import (
    EVERYONE,
    audit,
    bp,
    check_store,
    currency,
    db,
    done,
    hq_route,
    me,
    page,
    requested_store,
    scope_stores,
    settings,
)
from protocol.money import Money
from webui.errors import ApiError, Invalid, NotFound
from webui.forms import Forms
from webui.pages import wants_json

CHAIN = frozenset({HqRole.ADMIN, HqRole.BUYER})
# Catalog CSVs can be large (a 20,000-variant catalog is about 2 MB): this upload may be
# bigger than HQ's other forms.
MAX_UPLOAD = 16 * 1024 * 1024
# A product's editor posts 13 fields a variant row.
MAX_ROWS = 300
_FORM_LIMITS = {
    "hq.catalog_import": (MAX_UPLOAD, 20),
    "hq.catalog_create": (2 * 1024 * 1024, 14 * MAX_ROWS + 40),
    "hq.catalog_save": (2 * 1024 * 1024, 14 * MAX_ROWS + 40),
}
_STATUSES = (("active", "Active"), ("archived", "Archived"), ("all", "All"))
_KINDS = {"categories": ("catalog_category", "Category"), "vendors": ("catalog_vendor", "Vendor")}
_VARIANT_FIELDS = (
    "sku",
    "options",
    "barcodes",
    "cost",
    "price",
    "tax_class",
    "reorder_point",
    "reorder_qty",
    "pack_size",
)


@bp.before_request
def _bigger_forms() -> None:
    """The import's upload and a big product's form may exceed HQ's usual limits."""
    limits = _FORM_LIMITS.get(request.endpoint or "")
    if limits is not None:
        request.max_content_length, request.max_form_parts = limits


def _editor() -> bool:
    return me().user.role in CHAIN


def _whole(raw: str | None, name: str, *, low: int = 1, high: int = 2**62) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or not low <= int(raw) <= high:
        raise Invalid(
            f"{name} must be a whole number from {low}",
            code="invalid_filter",
            details={"field": name},
        )
    return int(raw)


def _filter() -> tuple[CatalogFilter, int]:
    status = request.args.get("status") or "active"
    if status not in dict(_STATUSES):
        raise Invalid(
            "status is active, archived or all", code="invalid_filter", details={"field": "status"}
        )
    text = (request.args.get("q") or "").strip()
    if len(text) > 100:
        raise Invalid(
            "search text is at most 100 characters", code="invalid_filter", details={"field": "q"}
        )
    wanted = CatalogFilter(
        text=text,
        category=_whole(request.args.get("category"), "category"),
        vendor=_whole(request.args.get("vendor"), "vendor"),
        status=status,
    )
    return wanted, _whole(request.args.get("page"), "page", high=1_000_000) or 1


def _stores() -> list[str]:
    picked = requested_store()
    return [picked] if picked else [s for s, _ in scope_stores(me().user)]


@hq_route("/catalog", roles=EVERYONE)
def catalog() -> Response:
    """The catalog, a page at a time, with the version each store runs."""
    wanted, page_no = _filter()
    conn = db()
    listing = catalog_edit.list_page(conn, wanted, page=page_no, page_size=settings().page_size)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return page(
        "hq/catalog.html",
        listing=listing,
        wanted=wanted,
        args=args,
        statuses=_STATUSES,
        categories=stock_grid.categories(conn),
        vendors=stock_grid.vendors(conn),
        head=master.head_version(conn),
        versions=catalog_edit.store_versions(conn, _stores()),
        editor=_editor(),
        currency=currency(),
        money=_money,
    )


def _money(amount: int | None) -> str:
    return catalog_edit.money_text(amount, currency()) or "—"


@hq_route("/catalog.csv", roles=EVERYONE)
def catalog_csv() -> Response:
    """The catalog CSV (ARCHITECTURE.md format) of every variant the filters match; with
    status=all it is the whole catalog, which an import reads back unchanged."""
    wanted, _ = _filter()
    out = io.StringIO()
    # Cost is a buying figure: store managers get the file without it (decisions.md §56).
    catalog_edit.write_csv(
        catalog_edit.export_rows(db(), wanted), out, currency(), with_cost=_editor()
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="catalog-{stamp}.csv"'},
    )


# The product editor.


def _typed_rows() -> list[VariantEdit]:
    count = _whole(request.form.get("rows"), "rows", low=0, high=MAX_ROWS) or 0
    rows = []
    for i in range(count):
        get = request.form.get
        values = {name: (get(f"v{i}_{name}") or "")[:2000] for name in _VARIANT_FIELDS}
        rows.append(
            VariantEdit(
                id=_whole(get(f"v{i}_id"), "variant"),
                seq=_whole(get(f"v{i}_seq"), "version"),
                active=get(f"v{i}_active") == "1",
                **values,
            )
        )
    return rows


def _typed_product(rows: list[VariantEdit]) -> ProductEdit:
    get = request.form.get
    return ProductEdit(
        name=(get("name") or "")[:500],
        category=(get("category") or "")[:500],
        vendor=(get("vendor") or "")[:500],
        seq=_whole(get("seq"), "version"),
        variants=tuple(rows),
    )


def _matrix_rows(edit: ProductEdit) -> list[VariantEdit]:
    """The editor's rows with the option matrix's new combinations added (not saved)."""
    axes = catalog_edit.parse_axes(request.form.get("matrix") or "")
    taken = []
    for row in edit.variants:
        pairs = []
        for part in row.options.split(";"):
            name, _, value = part.partition("=")
            if name.strip():
                pairs.append((name.strip(), value.strip()))
        taken.append(tuple(pairs))
    prefix = (request.form.get("sku_prefix") or "").strip()
    if not prefix:
        raise Invalid("give the SKUs' prefix, e.g. TEE", details={"field": "sku_prefix"})
    made = catalog_edit.expand_matrix(axes, sku_prefix=prefix, taken=taken)
    if len(edit.variants) + len(made) > MAX_ROWS:
        raise Invalid(f"at most {MAX_ROWS} variants in one product", details={"field": "matrix"})
    get = request.form.get
    kept = [row for row in edit.variants if not row.blank()]
    return kept + [
        VariantEdit(
            sku=sku,
            options=catalog_edit.options_text(options),
            cost=get("matrix_cost") or "",
            price=get("matrix_price") or "",
            tax_class=get("matrix_tax_class") or "",
            pack_size="1",
        )
        for options, sku in made
    ]


def _rows_of(product: catalog_edit.Product) -> list[VariantEdit]:
    money = currency()
    return [
        VariantEdit(
            id=v.id,
            seq=v.change_seq,
            sku=v.sku,
            options=v.options_text,
            barcodes="|".join(v.barcodes),
            cost=catalog_edit.money_text(v.cost, money),
            price=catalog_edit.money_text(v.price, money),
            tax_class=v.tax_class,
            reorder_point="" if v.reorder_point is None else str(v.reorder_point),
            reorder_qty="" if v.reorder_qty is None else str(v.reorder_qty),
            pack_size=str(v.pack_size),
            active=v.active,
        )
        for v in product.variants
    ]


def _editor_page(
    product: catalog_edit.Product | None,
    edit: ProductEdit,
    *,
    forms: Forms | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    conn = db()
    stores = scope_stores(me().user)
    rows = list(edit.variants)
    if _editor() and (not rows or not rows[-1].blank()):
        rows.append(VariantEdit(pack_size="1", tax_class=(master.tax_classes(conn) or [""])[0]))
    return page(
        "hq/catalog_product.html",
        status=status,
        product=product,
        edit=edit,
        rows=rows,
        forms=forms or Forms(),
        editor=_editor(),
        tax_classes=master.tax_classes(conn),
        categories=[n for n in catalog_edit.names(conn, "catalog_category") if n.active],
        vendors=[n for n in catalog_edit.names(conn, "catalog_vendor") if n.active],
        stores=stores,
        store_names=dict(stores),
        money=_money,
        head=master.head_version(conn),
        matrix=request.form.get("matrix", "") if request.method == "POST" else "",
        notice=notice,
    )


def _problem_field(p: Problem) -> str:
    if p.row == PRODUCT_ROW:
        return "name" if p.column == "product" else p.column
    return f"v{p.row - 1}_{p.column or 'sku'}"


def _refused(
    product: catalog_edit.Product | None, edit: ProductEdit, errors: dict[str, str], status: int
) -> Response:
    if wants_json():
        raise Invalid("the product has errors", code="invalid_product", details=errors)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    forms = Forms(errors={"product": errors}, values={"product": values})
    return _editor_page(product, edit, forms=forms, status=status)


def _submit(product_id: int | None) -> Response:
    """Save (or, with action=matrix, add the option matrix's combinations to the editor)."""
    conn = db()
    current = catalog_edit.product(conn, product_id) if product_id is not None else None
    edit = _typed_product(_typed_rows())
    if request.form.get("action") == "matrix":
        try:
            rows = _matrix_rows(edit)
        except Invalid as exc:
            field = (exc.details or {}).get("field", "matrix")
            return _refused(current, edit, {field: exc.message}, 422)
        added = len(rows) - len([r for r in edit.variants if not r.blank()])
        return _editor_page(
            current,
            ProductEdit(
                name=edit.name,
                category=edit.category,
                vendor=edit.vendor,
                seq=edit.seq,
                variants=tuple(rows),
            ),
            notice=f"{added} variant(s) added below from the option matrix: check them and Save",
        )
    try:
        saved = catalog_edit.save_product(conn, product_id, edit, currency=currency())
    except EditRefused as exc:
        errors: dict[str, str] = {}
        for p in exc.problems:
            errors.setdefault(_problem_field(p), p.reason)
        return _refused(current, edit, errors, 422)
    except ApiError as exc:
        if exc.status != 409 or wants_json():
            raise
        # Their version is shown, with why nothing was saved (never a silent overwrite).
        fresh = catalog_edit.product(conn, product_id) if product_id is not None else None
        assert fresh is not None
        return _editor_page(
            fresh,
            ProductEdit(
                name=fresh.name,
                category=fresh.category or "",
                vendor=fresh.vendor or "",
                seq=fresh.change_seq,
                variants=tuple(_rows_of(fresh)),
            ),
            forms=Forms(errors={"product": {"_form": exc.message}}),
            status=409,
        )
    with conn.transaction():
        audit(
            "catalog.product_saved",
            f"product:{saved.product_id}",
            {
                "name": edit.name,
                "created": saved.created,
                "updated": saved.updated,
                "version": saved.version,
            },
        )
    return done(
        "hq.catalog_product",
        f"Saved {edit.name.strip()}: {saved.created} variant(s) added, {saved.updated} changed,"
        f" {saved.unchanged} unchanged. Catalog version {saved.version}; stores pull it"
        " by themselves.",
        product_id=saved.product_id,
    )


@hq_route("/catalog/products/new", roles=CHAIN)
def catalog_new() -> Response:
    """A new product: its name, category, vendor, and variants typed or made by the matrix."""
    return _editor_page(None, ProductEdit(name=""))


@hq_route("/catalog/products", roles=CHAIN, methods=("POST",))
def catalog_create() -> Response:
    """Create a product with its variants."""
    return _submit(None)


@hq_route("/catalog/products/<int:product_id>", roles=EVERYONE)
def catalog_product(product_id: int) -> Response:
    """A product with its variants (editable for buyers) and store prices."""
    conn = db()
    stores = None if me().user.role.all_stores else [s for s, _ in scope_stores(me().user)]
    current = catalog_edit.product(conn, product_id, stores)
    edit = ProductEdit(
        name=current.name,
        category=current.category or "",
        vendor=current.vendor or "",
        seq=current.change_seq,
        variants=tuple(_rows_of(current)),
    )
    return _editor_page(current, edit)


@hq_route("/catalog/products/<int:product_id>", roles=CHAIN, methods=("POST",))
def catalog_save(product_id: int) -> Response:
    """Save a product and its variants (409 if someone saved it since it was opened)."""
    return _submit(product_id)


@hq_route("/catalog/products/<int:product_id>/archive", roles=CHAIN, methods=("POST",))
def catalog_archive(product_id: int) -> Response:
    """Archive a product with all its variants (stores stop selling it), or bring it back."""
    archived = request.form.get("archived", "1") != "0"
    conn = db()
    version = catalog_edit.set_archived(
        conn,
        product_id,
        seq=_whole(request.form.get("seq"), "version"),
        archived=archived,
    )
    with conn.transaction():
        audit(
            "catalog.product_archived" if archived else "catalog.product_restored",
            f"product:{product_id}",
            {"version": version},
        )
    what = "archived: stores stop selling it" if archived else "back on sale"
    return done(
        "hq.catalog_product",
        f"Product {what} (catalog version {version})",
        product_id=product_id,
    )


@hq_route("/catalog/prices", roles=EVERYONE, methods=("POST",))
def catalog_price() -> Response:
    """A store's own price for a variant, or (empty) back to the chain's price. Store
    managers may do this for their own stores only."""
    named = (request.form.get("store") or "").strip() or None
    asked = requested_store()
    if named and asked and named != asked:
        raise Invalid("two different stores named", details={"field": "store"})
    store = named or asked
    if store is None:
        raise Invalid("choose a store", details={"field": "store"})
    check_store(me().user, store)
    variant_id = _whole(request.form.get("variant"), "variant")
    conn = db()
    row = (
        conn.execute(
            "SELECT sku, product_id FROM catalog_variant WHERE id = %s", (variant_id,)
        ).fetchone()
        if variant_id is not None
        else None
    )
    if row is None:
        raise NotFound("no such variant", code="unknown_variant", details={"field": "variant"})
    sku, product_id = row
    raw = (request.form.get("price") or "").strip()
    amount: int | None = None
    if raw:
        try:
            amount = Money.parse(raw, currency()).amount
        except ValueError as exc:
            raise Invalid(
                f"{raw!r} is not an amount in {currency()}: {exc}", details={"field": "price"}
            ) from None
        if amount < 0:
            raise Invalid("a price must not be negative", details={"field": "price"})
    try:
        version = master.set_store_price(conn, store, sku, amount)
    except master.CatalogError as exc:
        raise Invalid(str(exc), details={"field": "price"}) from None
    with conn.transaction():
        audit(
            "catalog.store_price",
            f"{store}:{sku}",
            {"price": amount, "version": version},
        )
    said = "the chain's price" if amount is None else f"{raw} {currency()}"
    back = request.form.get("back") or ""
    if back == "list":
        return done("hq.catalog", f"{sku} in {store}: {said} (catalog version {version})")
    return done(
        "hq.catalog_product",
        f"{sku} in {store}: {said} (catalog version {version})",
        product_id=product_id,
    )


# Categories and vendors.


def _kind(kind: str) -> tuple[str, str]:
    found = _KINDS.get(kind)
    if found is None:
        raise NotFound(f"no list {kind}", code="not_found")
    return found


@hq_route("/catalog/names", roles=CHAIN)
def catalog_names() -> Response:
    """Categories and vendors: add, rename, archive."""
    conn = db()
    return page(
        "hq/catalog_names.html",
        lists=[
            (kind, label, catalog_edit.names(conn, table))
            for kind, (table, label) in _KINDS.items()
        ],
    )


@hq_route("/catalog/names/<kind>", roles=CHAIN, methods=("POST",))
def catalog_name_add(kind: str) -> Response:
    """Add a category or vendor."""
    table, label = _kind(kind)
    name = request.form.get("name") or ""
    conn = db()
    ident = catalog_edit.save_name(conn, table, None, name)
    with conn.transaction():
        audit(f"catalog.{kind}_added", f"{kind}:{ident}", {"name": name.strip()})
    return done("hq.catalog_names", f"{label} {name.strip()} added")


@hq_route("/catalog/names/<kind>/<int:ident>", roles=CHAIN, methods=("POST",))
def catalog_name_save(kind: str, ident: int) -> Response:
    """Rename a category or vendor (stores hear of it on every variant) or archive it."""
    table, label = _kind(kind)
    name = request.form.get("name") or ""
    active = request.form.get("active", "1") != "0"
    conn = db()
    catalog_edit.save_name(conn, table, ident, name, active=active)
    with conn.transaction():
        audit(f"catalog.{kind}_saved", f"{kind}:{ident}", {"name": name.strip(), "active": active})
    return done("hq.catalog_names", f"{label} {name.strip()} saved")


# CSV import: a dry run first, then apply the very file that was checked.


@hq_route("/catalog/import", roles=CHAIN)
def catalog_import_form() -> Response:
    """Choose a catalog CSV to check."""
    return page("hq/catalog_import.html", report=None, upload=None, forms=Forms())


@hq_route("/catalog/import", roles=CHAIN, methods=("POST",))
def catalog_import() -> Response:
    """Check a CSV without changing anything (dry run) and keep it; or apply a kept one."""
    conn = db()
    user = me().user
    upload_id = _whole(request.form.get("upload"), "upload")
    if upload_id is None:
        sent = request.files.get("file")
        data = sent.read() if sent is not None else b""
        if not data:
            if wants_json():
                raise Invalid("choose a CSV file", details={"field": "file"})
            forms = Forms(errors={"import": {"file": "choose a CSV file"}})
            return page("hq/catalog_import.html", status=422, report=None, upload=None, forms=forms)
        skip = request.form.get("skip_bad_rows") == "1"
        filename = ((sent.filename if sent else "") or "catalog.csv")[:200]
        with conn.transaction():
            conn.execute(
                "DELETE FROM hq_catalog_upload WHERE created_at < now() - interval '1 day'"
            )
            row = conn.execute(
                "INSERT INTO hq_catalog_upload (user_id, filename, data, skip_bad_rows)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (user.id, filename, data, skip),
            ).fetchone()
        assert row is not None
        upload_id = int(row[0])
        # The real import, rolled back: the report is exactly what applying would do now.
        with conn.transaction(force_rollback=True):
            report = master.import_csv(conn, data, currency=currency(), skip_bad_rows=skip)
        upload = {"id": upload_id, "filename": filename, "skip_bad_rows": skip}
        status = 200 if report.applied else 422
        return page(
            "hq/catalog_import.html",
            status=status,
            report=report,
            dry_run=True,
            upload=upload,
            forms=Forms(),
        )
    found = conn.execute(
        "SELECT filename, data, skip_bad_rows, applied_at FROM hq_catalog_upload"
        " WHERE id = %s AND user_id = %s",
        (upload_id, user.id),
    ).fetchone()
    if found is None:
        raise NotFound(
            "that checked file is no longer kept: choose it again",
            code="unknown_upload",
            details={"field": "file"},
        )
    filename, data, skip, applied_at = found
    if applied_at is not None:
        raise Invalid(
            "that file has already been applied", code="already_applied", details={"field": "file"}
        )
    report = master.import_csv(conn, bytes(data), currency=currency(), skip_bad_rows=skip)
    if report.applied:
        with conn.transaction():
            conn.execute(
                "UPDATE hq_catalog_upload SET applied_at = now() WHERE id = %s", (upload_id,)
            )
            audit(
                "catalog.imported",
                f"upload:{upload_id}",
                {
                    "filename": filename,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "skipped": report.skipped,
                    "version": report.version,
                },
            )
    return page(
        "hq/catalog_import.html",
        status=200 if report.applied else 422,
        report=report,
        dry_run=False,
        upload={"id": upload_id, "filename": filename, "skip_bad_rows": skip},
        forms=Forms(),
    )
