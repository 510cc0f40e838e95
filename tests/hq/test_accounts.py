"""HQ sign-in, sessions, CSRF, the login throttle, password changes, the Users page and
`tillbox cloud user …`: refusals in the one error shape, nothing stored half-written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from appliance.cli import main
from cloud.hq import create_app
from tests.hq.conftest import PASSWORDS, Hq, HqBrowser, csrf_of, fast_settings, field_errors

USERS = (
    "SELECT string_agg(username || role || active || password_hash, ',' ORDER BY id) FROM hq_user"
)


def _state(hq: Hq) -> Any:
    return hq.query(
        f"SELECT ({USERS}), (SELECT string_agg(user_id || store, ',' ORDER BY 1)"
        " FROM hq_user_store), (SELECT count(*) FROM hq_session)"
    )


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session(hq: Hq) -> None:
    browser = hq.browser()
    answer = browser.try_sign_in("admin", PASSWORDS["admin"])
    assert answer.status_code == 303 and answer.headers["Location"] == "/hq/"
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("tillbox_hq="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/hq" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert hq.query("SELECT count(*) FROM hq_session WHERE token_hash = %s", (token,)) == [(0,)]
    page = browser.get("/hq/")
    assert page.status_code == 200 and "Dashboard" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    css = browser.get("/hq/ui/static/webui.css")
    assert css.status_code == 200 and "--accent" in css.text
    css.close()
    browser.csrf = csrf_of(page.text)
    assert browser.post("/hq/logout").status_code == 303
    assert browser.get("/hq/").status_code == 302
    # The old cookie, replayed, is dead.
    replay = hq.browser()
    replay.client.set_cookie("tillbox_hq", token, path="/hq")
    assert replay.get("/hq/").status_code == 302


def test_secure_cookie_when_configured(cloud_dsn: str, hq: Hq) -> None:
    app = create_app(fast_settings(cloud_dsn, cookie_secure="always"))
    browser = HqBrowser(client=app.test_client())
    answer = browser.try_sign_in("buyer", PASSWORDS["buyer"])
    assert any("Secure" in c for c in answer.headers.getlist("Set-Cookie"))


def test_wrong_password_and_unknown_user_get_the_same_answer(hq: Hq) -> None:
    browser = hq.browser()
    for username, password in (("admin", "not-the-password"), ("nobody", "whatever-it-is")):
        answer = browser.try_sign_in(username, password)
        assert answer.status_code == 401
        assert field_errors(answer.text)["password"] == "wrong username or password"
    shaped = browser.client.post(
        "/hq/login",
        data={"csrf_token": browser.login_form(), "username": "admin", "password": "nope-nope"},
        headers={"Accept": "application/json"},
    )
    assert shaped.status_code == 401 and shaped.get_json() == {
        "error": "wrong_password",
        "message": "wrong username or password",
        "details": None,
    }
    assert hq.query("SELECT count(*) FROM hq_session") == [(0,)]
    assert hq.query("SELECT count(*) FROM hq_audit WHERE action = 'sign_in_failed'") == [(3,)]


def test_the_sign_in_form_needs_its_csrf_cookie(hq: Hq) -> None:
    browser = hq.browser()
    answer = browser.client.post(
        "/hq/login",
        data={"csrf_token": "forged", "username": "admin", "password": PASSWORDS["admin"]},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 403 and answer.get_json()["error"] == "csrf_failed"
    assert hq.query("SELECT count(*) FROM hq_session") == [(0,)]


def test_a_disabled_user_cannot_sign_in(hq: Hq) -> None:
    hq.query("UPDATE hq_user SET active = false WHERE username = 'buyer'")
    assert hq.browser().try_sign_in("buyer", PASSWORDS["buyer"]).status_code == 401


def test_login_is_throttled_per_address_and_per_user(cloud_dsn: str, hq: Hq) -> None:
    app = create_app(fast_settings(cloud_dsn, login_attempts_per_minute=3))
    guesser = HqBrowser(client=app.test_client())
    guesser.client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    for _ in range(3):
        assert guesser.try_sign_in("admin", "wrong-guess-123").status_code == 401
    limited = guesser.try_sign_in("admin", PASSWORDS["admin"])
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # The same address for another user: still limited (per address).
    assert guesser.try_sign_in("buyer", PASSWORDS["buyer"]).status_code == 429
    # Another address for the same user: limited too (per user), in the one shape for JSON.
    elsewhere = HqBrowser(client=app.test_client())
    elsewhere.client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    shaped = elsewhere.try_sign_in(
        "admin", PASSWORDS["admin"], headers={"Accept": "application/json"}
    )
    assert shaped.status_code == 429 and shaped.get_json()["error"] == "rate_limited"
    assert "Retry-After" in shaped.headers
    # Another user from another address is unaffected.
    assert elsewhere.try_sign_in("buyer", PASSWORDS["buyer"]).status_code == 303
    assert hq.query("SELECT count(*) FROM hq_session") == [(1,)]


def test_sign_in_goes_back_only_to_an_hq_page(hq: Hq) -> None:
    browser = hq.browser()
    for target, expected in (
        ("/hq/stock?store=s01", "/hq/stock?store=s01"),
        ("https://evil.example/hq/", "/hq/"),
        ("//evil.example/hq/", "/hq/"),
        ("/admin/", "/hq/"),
    ):
        answer = browser.client.post(
            "/hq/login",
            data={
                "csrf_token": browser.login_form(),
                "username": "admin",
                "password": PASSWORDS["admin"],
                "next": target,
            },
        )
        assert answer.headers["Location"] == expected, target


def test_password_change(hq: Hq) -> None:
    other = hq.browser("192.0.2.50").sign_in("manager")
    me = hq.browser().sign_in("manager")
    before = _state(hq)
    for form, field in (
        ({"current_password": "wrong-one-here", "new_password": "n" * 12}, "current_password"),
        ({"current_password": PASSWORDS["manager"], "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORDS["manager"], "new_password": "n" * 257}, "new_password"),
        (
            {"current_password": PASSWORDS["manager"], "new_password": PASSWORDS["manager"]},
            "new_password",
        ),
    ):
        form["new_password_again"] = form["new_password"]
        answer = me.post("/hq/account/password", form)
        assert answer.status_code == 422, answer.text[:300]
        assert field in field_errors(answer.text), field_errors(answer.text)
        assert PASSWORDS["manager"] not in answer.text  # never shown back
    mismatch = me.post(
        "/hq/account/password",
        {
            "current_password": PASSWORDS["manager"],
            "new_password": "new-password-77",
            "new_password_again": "new-password-78",
        },
        headers={"Accept": "application/json"},
    )
    assert mismatch.status_code == 422 and mismatch.get_json()["error"] == "invalid"
    assert _state(hq) == before
    done = me.post(
        "/hq/account/password",
        {
            "current_password": PASSWORDS["manager"],
            "new_password": "new-password-77",
            "new_password_again": "new-password-77",
        },
    )
    assert done.status_code == 303
    assert "Password changed" in me.get("/hq/account").text
    assert other.get("/hq/").status_code == 302  # the other session ended
    assert hq.browser().try_sign_in("manager", PASSWORDS["manager"]).status_code == 401
    assert hq.browser().try_sign_in("manager", "new-password-77").status_code == 303


def test_users_page_adds_changes_and_disables(hq: Hq) -> None:
    admin = hq.browser().sign_in("admin")
    added = admin.post(
        "/hq/users",
        {
            "username": "Mary.K",
            "name": "Mary Kelly",
            "role": "store_manager",
            "stores": ["s01", "s02"],
            "password": "first-password-1",
            "password_again": "first-password-1",
        },
    )
    assert added.status_code == 303
    assert "Added mary.k (Store manager)" in admin.get("/hq/users").text
    mary = hq.query("SELECT id FROM hq_user WHERE username = 'mary.k'")[0][0]
    assert hq.query("SELECT store FROM hq_user_store WHERE user_id = %s ORDER BY 1", (mary,)) == [
        ("s01",),
        ("s02",),
    ]
    session = hq.browser("192.0.2.60").sign_in_as("mary.k", "first-password-1")
    assert 'data-store="s02"' in session.get("/hq/fleet").text
    # Narrowed to s01: her open session sees it at once.
    assert (
        admin.post(f"/hq/users/{mary}/role", {"role": "store_manager", "stores": "s01"}).status_code
        == 303
    )
    assert session.get("/hq/fleet?store=s02").status_code == 403
    # Disabled: signed out at once.
    assert admin.post(f"/hq/users/{mary}/disable").status_code == 303
    assert session.get("/hq/").status_code == 302
    assert admin.post(f"/hq/users/{mary}/enable").status_code == 303
    assert hq.query("SELECT active FROM hq_user WHERE id = %s", (mary,)) == [(True,)]
    actions = [
        r[0] for r in hq.query("SELECT action FROM hq_audit WHERE target = 'mary.k' ORDER BY id")
    ]
    assert actions == ["user_add", "user_role", "user_disable", "user_enable"]


@pytest.mark.parametrize(
    ("form", "field", "status"),
    [
        ({"username": "x"}, "username", 422),
        ({"username": "Bad Name!"}, "username", 422),
        ({"username": "admin"}, "username", 409),
        ({"role": "owner"}, "role", 422),
        ({"stores": []}, "stores", 422),
        ({"stores": ["zz9"]}, "stores", 422),
        ({"role": "buyer", "stores": ["s01"]}, "stores", 422),
        ({"password": "short", "password_again": "short"}, "password", 422),
        ({"password_again": "something-else-1"}, "password_again", 422),
        ({"name": ""}, "name", 422),
    ],
)
def test_users_page_refuses_bad_input_and_stores_nothing(
    hq: Hq, form: dict[str, Any], field: str, status: int
) -> None:
    admin = hq.browser().sign_in("admin")
    before = _state(hq)
    full = {
        "username": "newbie",
        "name": "New Bie",
        "role": "store_manager",
        "stores": ["s01"],
        "password": "first-password-1",
        "password_again": "first-password-1",
        **form,
    }
    answer = admin.post("/hq/users", full)
    assert answer.status_code == status, answer.text[:400]
    assert field in field_errors(answer.text), field_errors(answer.text)
    assert "first-password-1" not in answer.text
    shaped = admin.post("/hq/users", full, headers={"Accept": "application/json"})
    assert shaped.status_code == 422 and set(shaped.get_json()) == {"error", "message", "details"}
    assert field in shaped.get_json()["details"]
    assert _state(hq) == before


def test_an_admin_cannot_lock_themselves_out(hq: Hq) -> None:
    admin = hq.browser().sign_in("admin")
    me = hq.users["admin"]
    before = _state(hq)
    assert admin.post(f"/hq/users/{me}/disable").status_code == 409
    assert admin.post(f"/hq/users/{me}/role", {"role": "buyer"}).status_code == 409
    assert admin.post("/hq/users/99999/disable").status_code == 404
    assert _state(hq) == before


def test_a_form_without_the_session_csrf_token_changes_nothing(hq: Hq) -> None:
    admin = hq.browser().sign_in("admin")
    before = _state(hq)
    for path in ("/hq/users", f"/hq/users/{hq.users['buyer']}/disable", "/hq/account/password"):
        answer = admin.client.post(
            path, data={"csrf_token": "not-it", "username": "x1", "role": "buyer"}
        )
        assert answer.status_code == 403 and "expired" in answer.text
    assert _state(hq) == before


def test_cli_adds_the_first_admin_sets_a_password_and_disables(
    cloud_dsn: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    secret = tmp_path / "pw"
    secret.write_text("the-first-password\n")
    env = {
        "TILLBOX_CLOUD_DSN": cloud_dsn,
        "TILLBOX_HQ_PASSWORD_TIME_COST": "1",
        "TILLBOX_HQ_PASSWORD_MEMORY_KIB": "64",
    }
    added = runner.invoke(
        main,
        ["cloud", "user", "add", "root", "--name", "Head Office", "--password-file", str(secret)],
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "added root: HQ admin, every store" in added.output
    stored = Hq(app=create_app(fast_settings(cloud_dsn)), dsn=cloud_dsn).query(
        "SELECT password_hash FROM hq_user WHERE username = 'root'"
    )[0][0]
    assert stored.startswith("$argon2id$") and "m=64,t=1," in stored  # the settings' cost
    again = runner.invoke(
        main,
        ["cloud", "user", "add", "root", "--name", "X", "--password-file", str(secret)],
        env=env,
    )
    assert again.exit_code == 1 and "already a user root" in again.output
    short = tmp_path / "short"
    short.write_text("tiny\n")
    refused = runner.invoke(
        main, ["cloud", "user", "passwd", "root", "--password-file", str(short)], env=env
    )
    assert refused.exit_code == 1 and "12 to 256" in refused.output
    app = create_app(fast_settings(cloud_dsn))
    browser = HqBrowser(client=app.test_client())
    assert browser.try_sign_in("root", "the-first-password").status_code == 303
    secret.write_text("a-second-password\n")
    changed = runner.invoke(
        main, ["cloud", "user", "passwd", "root", "--password-file", str(secret)], env=env
    )
    assert changed.exit_code == 0, changed.output
    assert browser.get("/hq/").status_code == 302  # its session ended
    assert (
        HqBrowser(client=app.test_client()).try_sign_in("root", "a-second-password").status_code
        == 303
    )
    disabled = runner.invoke(main, ["cloud", "user", "disable", "root"], env=env)
    assert disabled.exit_code == 0 and "disabled root" in disabled.output
    assert (
        HqBrowser(client=app.test_client()).try_sign_in("root", "a-second-password").status_code
        == 401
    )
    unknown = runner.invoke(main, ["cloud", "user", "disable", "ghost"], env=env)
    assert unknown.exit_code == 1 and "no HQ user ghost" in unknown.output


def test_cli_reads_the_password_from_stdin_with_a_dash(cloud_dsn: str) -> None:
    """As Ansible adds the first HQ admin: the password on stdin, never in a file or argv."""
    env = {
        "TILLBOX_CLOUD_DSN": cloud_dsn,
        "TILLBOX_HQ_PASSWORD_TIME_COST": "1",
        "TILLBOX_HQ_PASSWORD_MEMORY_KIB": "64",
    }
    runner = CliRunner()
    added = runner.invoke(
        main,
        ["cloud", "user", "add", "hq-admin", "--name", "HQ Admin", "--password-file", "-"],
        input="from-standard-input\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    app = create_app(fast_settings(cloud_dsn))
    assert (
        HqBrowser(client=app.test_client())
        .try_sign_in("hq-admin", "from-standard-input")
        .status_code
        == 303
    )
    changed = runner.invoke(
        main,
        ["cloud", "user", "passwd", "hq-admin", "--password-file", "-"],
        input="second-from-stdin\n",
        env=env,
    )
    assert changed.exit_code == 0, changed.output
    browser = HqBrowser(client=app.test_client())
    assert browser.try_sign_in("hq-admin", "from-standard-input").status_code == 401
    assert browser.try_sign_in("hq-admin", "second-from-stdin").status_code == 303
