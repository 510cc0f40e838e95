"""Enrolment (decisions.md §53): `tillbox cloud store enrol-code` issues a one-time code, a new
appliance trades it at HQ's `POST /hq/enrol` (waitress on a free port, the real PostgreSQL)
for a broker password written into a real Mosquitto's password file, and its uplink
connects with it. Reuse, expiry, another store, a revoked code, two at once, bad bodies and
the throttle are refused and change nothing."""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from flask import Flask
from waitress.server import create_server

from appliance import enrolment as appliance_enrolment
from appliance.cli import main as appliance_cli
from appliance.doctor import diagnose
from appliance.first_boot import Targets, apply_store_setup
from appliance.runtime import open_runtime
from appliance.settings import load_settings, write_settings_file
from appliance.sync.uplink import Uplink
from cloud import enrolment
from cloud.cli import cloud as cloud_cli
from cloud.hq import create_app
from protocol.topics import status_topic
from tests.appliance.sync.mqtt_fakes import free_port, wait_for
from tests.cloud.shipped_broker import Client, ShippedBroker
from tests.hq.conftest import Hq, HqServer, fast_settings, seed_users

Conn = psycopg.Connection[Any]
TILLBOX = str(Path(sys.executable).parent / "tillbox")
CODE_SHAPE = re.compile(r"^[A-Z2-7]{5}(-[A-Z2-7]{5}){3}$", re.MULTILINE)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    """The shipped broker (TLS listener, password file, ACL) with one unrelated user."""
    shipped = ShippedBroker(tmp_path_factory.mktemp("enrol-broker"))
    shipped.credentials("s99")
    shipped.credentials("cloud-ingest")
    shipped.start()
    pid_file = shipped.root / "mosquitto.pid"
    pid_file.write_text(f"{shipped.pid}\n")
    yield shipped
    shipped.kill()


def enrol_app(dsn: str, broker: ShippedBroker, **overrides: Any) -> Flask:
    values: dict[str, Any] = {
        "enrol_broker_host": "127.0.0.1",
        "enrol_broker_port": broker.tls_port,
        "enrol_broker_ca_file": str(broker.ca),
        "broker_password_file": str(broker.password_file),
        "broker_pid_file": str(broker.root / "mosquitto.pid"),
    }
    values.update(overrides)
    return create_app(fast_settings(dsn, **values))


@pytest.fixture
def hq(cloud_dsn: str, broker: ShippedBroker) -> Hq:
    app = enrol_app(cloud_dsn, broker)
    return Hq(
        app=app, dsn=cloud_dsn, users=seed_users(cloud_dsn, app.extensions["tillbox_hq_passwords"])
    )


@pytest.fixture
def server(hq: Hq) -> Iterator[HqServer]:
    served = create_server(hq.app, host="127.0.0.1", port=0, threads=4, ident="tillbox-hq")
    thread = threading.Thread(target=served.run, name="waitress-hq", daemon=True)
    thread.start()
    running = HqServer(server=served, thread=thread)
    yield running
    running.stop()


def issue(dsn: str, store: str, *extra: str) -> str:
    """A code from the CLI, as IT gets it."""
    result = CliRunner().invoke(
        cloud_cli, ["store", "enrol-code", store, *extra], env={"TILLBOX_CLOUD_DSN": dsn}
    )
    assert result.exit_code == 0, result.output
    codes = CODE_SHAPE.findall(result.output)
    found = [line for line in result.output.splitlines() if CODE_SHAPE.fullmatch(line)]
    assert len(found) == 1 and codes, result.output
    return found[0]


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any, Any]:
    """(status, JSON body, headers) of a POST to `url`."""
    request = urllib.request.Request(  # noqa: S310 - the test's own server
        url, data=body, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read()), answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


def enrol_json(server: HqServer, store: str, code: str) -> tuple[int, Any, Any]:
    return post(f"{server.url}/hq/enrol", json.dumps({"store": store, "code": code}).encode())


def snapshot(hq: Hq, broker: ShippedBroker) -> tuple[Any, ...]:
    """What an enrolment may change: the codes, the stores' password dates, the file."""
    return (
        hq.query(
            "SELECT id, store, used_at, used_from, revoked_at FROM enrolment_code ORDER BY id"
        ),
        hq.query("SELECT id, mqtt_password_set_at FROM store ORDER BY id"),
        broker.password_file.read_bytes(),
    )


def connack(broker: ShippedBroker, user: str, password: str) -> int:
    client = Client(broker, user, password, tls=True)
    try:
        return int(client.connect().value)
    finally:
        client.close()


def eventually(check: Any) -> bool:
    try:
        wait_for(check, timeout=5, what="the broker's reload")
    except AssertionError:
        return False
    return True


def test_a_new_appliance_enrols_and_its_uplink_connects(
    tmp_path: Path, hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    code = issue(hq.dsn, "s01", "--valid-for", "2h")
    setup = tmp_path / "boot" / "store-setup.toml"
    setup.parent.mkdir()
    setup.write_text(
        f'[store]\nid = "s01"\nname = "Dublin"\n\n[cloud]\nhost = "127.0.0.1"\n'
        f'port = {broker.tls_port}\nenrolment_code = "{code.lower()}"\n'
        f"ca = '''{broker.ca.read_text()}'''\n"
    )
    data = tmp_path / "data"
    apply_store_setup(
        setup,
        Targets(
            data_dir=data,
            config_dir=tmp_path / "etc",
            nm_dir=tmp_path / "nm",
            modprobe_dir=tmp_path / "modprobe",
        ),
    )
    # waitress has no TLS here (nginx gives it in production): the lab's plain address.
    write_settings_file(load_settings(data, env={}), enrol_url=f"{server.url}/hq/enrol")
    settings = load_settings(data, env={})
    assert appliance_enrolment.pending(settings)
    assert [f.message for f in diagnose(data) if f.topic == "cloud"] == [
        "not enrolled yet: the enrolment code has not been traded"
    ]

    result = CliRunner().invoke(appliance_cli, ["appliance", "enrol", "--data", str(data)], env={})
    assert result.exit_code == 0, result.output
    assert "enrolled: broker 127.0.0.1" in result.output
    secret = data / "mqtt-password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    password = secret.read_text().strip()
    assert not (data / "enrolment-code").exists()
    assert not appliance_enrolment.pending(load_settings(data, env={}))
    assert [f.level for f in diagnose(data) if f.topic == "cloud"] == ["ok"]

    # The broker was sent SIGHUP through its pid file: the new password counts.
    assert eventually(lambda: connack(broker, "s01", password) == 0)
    rt = open_runtime(load_settings(data, env={}, overrides={"sync_poll_ms": 20}))
    link = Uplink(rt)
    try:
        link.start()
        wait_for(lambda: rt.link.connected, what="the uplink's connection")
    finally:
        link.stop()
        rt.close()

    used = hq.query("SELECT used_at IS NOT NULL, used_from FROM enrolment_code")
    assert used == [(True, "127.0.0.1")]
    actions = [row[0] for row in hq.query("SELECT action FROM hq_audit ORDER BY id")]
    assert actions[-2:] == ["enrolment.code_issued", "enrolment.used"]
    assert hq.query("SELECT mqtt_password_set_at IS NOT NULL FROM store WHERE id = 's01'") == [
        (True,)
    ]

    # The same code again: refused, and the password stays the one the appliance has.
    before = snapshot(hq, broker)
    status, body, _ = enrol_json(server, "s01", code)
    assert (status, body["error"]) == (409, "enrolment_used")
    assert snapshot(hq, broker) == before
    assert connack(broker, "s01", password) == 0
    assert hq.query("SELECT action FROM hq_audit ORDER BY id DESC LIMIT 1") == [
        ("enrolment.refused.enrolment_used",)
    ]


def test_expired_another_stores_revoked_and_unknown_codes_are_refused(
    hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    expired = issue(hq.dsn, "s02")
    hq.query(
        "UPDATE enrolment_code SET issued_at = now() - interval '3 days',"
        " expires_at = now() - interval '1 second'"
    )
    before = snapshot(hq, broker)
    status, body, _ = enrol_json(server, "s02", expired)
    assert (status, body["error"]) == (403, "enrolment_expired")
    assert set(body) == {"error", "message", "details"}
    assert snapshot(hq, broker) == before

    first = issue(hq.dsn, "s01")
    second = issue(hq.dsn, "s01")  # revokes the first
    before = snapshot(hq, broker)
    for store, code in (("s02", second), ("s01", first), ("s01", "AAAAA-BBBBB-CCCCC-DDDDD")):
        status, body, _ = enrol_json(server, store, code)
        assert (status, body["error"]) == (403, "enrolment_invalid"), (store, code)
    assert snapshot(hq, broker) == before
    refused = hq.query(
        "SELECT details->>'why' FROM hq_audit WHERE action = 'enrolment.refused.enrolment_invalid'"
        " ORDER BY id"
    )
    assert refused == [("other store",), ("revoked",), ("unknown",)]
    # The live one still works afterwards.
    status, body, _ = enrol_json(server, "s01", second.replace("-", " ").lower())
    assert status == 200 and body["mqtt"]["username"] == "s01"


def test_two_appliances_with_one_code_at_once_one_wins(
    hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    code = issue(hq.dsn, "s02")
    answers: list[tuple[int, Any, Any]] = []
    go = threading.Barrier(4)

    def attempt() -> None:
        go.wait()
        answers.append(enrol_json(server, "s02", code))

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    statuses = sorted(a[0] for a in answers)
    assert statuses == [200, 409, 409, 409], answers
    winner = next(a[1] for a in answers if a[0] == 200)
    lines = [
        line for line in broker.password_file.read_text().splitlines() if line.startswith("s02:")
    ]
    assert len(lines) == 1
    assert eventually(lambda: connack(broker, "s02", winner["mqtt"]["password"]) == 0)
    assert winner["mqtt"]["ca"] == broker.ca.read_text()
    assert (winner["mqtt"]["port"], winner["mqtt"]["tls"]) == (broker.tls_port, True)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"store=s01", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"[1, 2]", "application/json", 400, "malformed_json"),
        (b"{}", "application/json", 422, "invalid"),
        (b'{"store": "s01", "code": 5}', "application/json", 422, "invalid"),
        (b'{"store": "s01", "code": "X", "admin": true}', "application/json", 422, "invalid"),
        (b'{"store": "s01", "code": "not-a-code"}', "application/json", 422, "invalid_code_format"),
        (
            b'{"store": "S 01", "code": "AAAAA-BBBBB-CCCCC-DDDDD"}',
            "application/json",
            422,
            "invalid_store",
        ),
        (b'{"store": "s01", "code": "' + b"A" * 2000 + b'"}', "application/json", 413, "too_large"),
    ],
)
def test_bad_bodies_are_refused_in_the_one_shape_and_change_nothing(
    hq: Hq,
    server: HqServer,
    broker: ShippedBroker,
    body: bytes,
    content_type: str,
    status: int,
    error: str,
) -> None:
    issue(hq.dsn, "s01")
    before = snapshot(hq, broker)
    got, answer, _ = post(f"{server.url}/hq/enrol", body, content_type)
    assert (got, answer["error"]) == (status, error), answer
    assert set(answer) == {"error", "message", "details"}
    assert snapshot(hq, broker) == before


def test_attempts_from_one_address_are_throttled(cloud_dsn: str, broker: ShippedBroker) -> None:
    app = enrol_app(cloud_dsn, broker, enrol_attempts_per_minute=3)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    wrong = {"store": "s01", "code": "AAAAA-BBBBB-CCCCC-DDDDD"}
    for _ in range(3):
        assert client.post("/hq/enrol", json=wrong).status_code == 403
    refused = client.post("/hq/enrol", json=wrong)
    assert refused.status_code == 429
    assert refused.json is not None and refused.json["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Another address is not held back by this one.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    assert other.post("/hq/enrol", json=wrong).status_code == 403


def test_a_cloud_without_enrolment_set_up_says_so(cloud_dsn: str, broker: ShippedBroker) -> None:
    app = enrol_app(cloud_dsn, broker, enrol_broker_host="")
    answer = app.test_client().post(
        "/hq/enrol", json={"store": "s01", "code": "AAAAA-BBBBB-CCCCC-DDDDD"}
    )
    assert answer.status_code == 503
    assert answer.json is not None and answer.json["error"] == "enrolment_unavailable"


def test_issuing_needs_a_known_store_and_a_sane_validity(cloud_dsn: str) -> None:
    runner = CliRunner()
    env = {"TILLBOX_CLOUD_DSN": cloud_dsn}
    unknown = runner.invoke(cloud_cli, ["store", "enrol-code", "s77"], env=env)
    assert unknown.exit_code == 1 and "no store s77" in unknown.output
    for bad in ("0h", "72", "1y", "31d"):
        result = runner.invoke(
            cloud_cli, ["store", "enrol-code", "s01", "--valid-for", bad], env=env
        )
        assert result.exit_code != 0 and "Traceback" not in result.output, (bad, result.output)
    with psycopg.connect(cloud_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM enrolment_code").fetchone() == (0,)
    assert enrolment.CODE_RE.fullmatch(enrolment.new_code())


def test_an_appliance_keeps_its_code_when_refused_or_unreachable(
    tmp_path: Path, hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    data = tmp_path / "data"
    setup = tmp_path / "store-setup.toml"
    setup.write_text(
        '[store]\nid = "s02"\nname = "Cork"\n\n[cloud]\nhost = "127.0.0.1"\n'
        f'port = {broker.tls_port}\nenrolment_code = "AAAAA-BBBBB-CCCCC-DDDDD"\n'
    )
    apply_store_setup(
        setup,
        Targets(
            data_dir=data,
            config_dir=tmp_path / "etc",
            nm_dir=tmp_path / "nm",
            modprobe_dir=tmp_path / "mp",
        ),
    )
    # Nothing listens here: a retry, and everything stays as it was.
    write_settings_file(load_settings(data, env={}), enrol_url="http://127.0.0.1:9/hq/enrol")
    outcome = appliance_enrolment.exchange(load_settings(data, env={}))
    assert outcome.state == "retry"
    assert (data / "enrolment-code").exists() and not (data / "mqtt-password").exists()
    [finding] = [f for f in diagnose(data) if f.topic == "cloud"]
    assert finding.level == "warn" and "retrying" in finding.message

    write_settings_file(load_settings(data, env={}), enrol_url=f"{server.url}/hq/enrol")
    refused = CliRunner().invoke(appliance_cli, ["appliance", "enrol", "--data", str(data)], env={})
    assert refused.exit_code == 1
    assert "not valid for this store" in refused.output
    assert (data / "enrolment-code").exists() and not (data / "mqtt-password").exists()
    [finding] = [f for f in diagnose(data) if f.topic == "cloud"]
    assert finding.level == "fail" and "enrolment_invalid" in finding.message

    # IT issues a new code and gives it to the appliance.
    code = issue(hq.dsn, "s02")
    again = CliRunner().invoke(
        appliance_cli, ["appliance", "enrol", "--data", str(data), "--code", code], env={}
    )
    assert again.exit_code == 0, again.output
    assert (data / "mqtt-password").exists() and not (data / "enrolment-code").exists()


def test_the_background_enroller_trades_the_code(
    tmp_path: Path, hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    code = issue(hq.dsn, "s01")
    data = tmp_path / "data"
    setup = tmp_path / "store-setup.toml"
    setup.write_text(
        '[store]\nid = "s01"\nname = "Dublin"\n\n[cloud]\nhost = "127.0.0.1"\n'
        f'port = {broker.tls_port}\nenrolment_code = "{code}"\n'
    )
    apply_store_setup(
        setup,
        Targets(
            data_dir=data,
            config_dir=tmp_path / "etc",
            nm_dir=tmp_path / "nm",
            modprobe_dir=tmp_path / "mp",
        ),
    )
    write_settings_file(load_settings(data, env={}), enrol_url=f"{server.url}/hq/enrol")
    enrolled = threading.Event()
    enroller = appliance_enrolment.Enroller(
        load_settings(data, env={}), enrolled.set, first_wait_s=0.05
    )
    enroller.start()
    try:
        assert enrolled.wait(20)
    finally:
        enroller.stop()
    assert enroller.outcome is not None and enroller.outcome.state == "enrolled"
    assert (data / "mqtt-password").exists()


def first_boot(tmp_path: Path, store: str, broker: ShippedBroker, code: str, url: str) -> Path:
    """A Pi after first boot with `code` in its setup file, trading it at `url`."""
    setup = tmp_path / "store-setup.toml"
    setup.write_text(
        f'[store]\nid = "{store}"\nname = "Shop"\n\n[cloud]\nhost = "127.0.0.1"\n'
        f'port = {broker.tls_port}\nenrolment_code = "{code}"\n'
        f"ca = '''{broker.ca.read_text()}'''\n"
    )
    data = tmp_path / "data"
    apply_store_setup(
        setup,
        Targets(
            data_dir=data,
            config_dir=tmp_path / "etc",
            nm_dir=tmp_path / "nm",
            modprobe_dir=tmp_path / "mp",
        ),
    )
    write_settings_file(load_settings(data, env={}), enrol_url=url)
    return data


def test_serve_trades_the_code_at_start_and_its_uplink_comes_online(
    tmp_path: Path, hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    code = issue(hq.dsn, "s02")
    data = first_boot(tmp_path, "s02", broker, code, f"{server.url}/hq/enrol")
    cloud = Client(broker, "cloud-ingest", broker.password("cloud-ingest"), tls=False)
    cloud.connect()
    cloud.subscribe(status_topic("s02"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLBOX_")}
    with subprocess.Popen(
        [TILLBOX, "appliance", "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            wait_for(
                lambda: any(b'"online":true' in m for _, m in cloud.heard()),
                timeout=30,
                what="s02's uplink online after enrolling",
            )
        finally:
            process.terminate()
            _, err = process.communicate(timeout=20)
            cloud.close()
    assert process.returncode == 0, err
    assert (data / "mqtt-password").exists() and not (data / "enrolment-code").exists()
    assert hq.query("SELECT used_at IS NOT NULL FROM enrolment_code WHERE store = 's02'") == [
        (True,)
    ]


@pytest.fixture
def https_server(hq: Hq, broker: ShippedBroker) -> Iterator[str]:
    """HQ over HTTPS with the broker's test certificate (CN and SAN 127.0.0.1), as nginx
    would give it."""
    from werkzeug.serving import make_server

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(broker.root / "server.pem", broker.root / "server.key")
    served = make_server("127.0.0.1", 0, hq.app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{served.server_port}/hq/enrol"
    served.shutdown()
    thread.join(10)


def test_the_exchange_verifies_the_clouds_certificate(
    tmp_path: Path, hq: Hq, https_server: str, broker: ShippedBroker
) -> None:
    code = issue(hq.dsn, "s01")
    data = first_boot(tmp_path, "s01", broker, code, https_server)
    # Without the private CA the certificate is not trusted: retried, nothing sent or used.
    untrusting = load_settings(data, env={}, overrides={"mqtt_tls_ca": ""})
    outcome = appliance_enrolment.exchange(untrusting)
    assert outcome.state == "retry" and "CERTIFICATE_VERIFY_FAILED" in outcome.message
    assert hq.query("SELECT used_at FROM enrolment_code") == [(None,)]
    # With the setup file's CA it is.
    outcome = appliance_enrolment.exchange(load_settings(data, env={}))
    assert outcome.state == "enrolled", outcome
    assert (data / "mqtt-password").exists()


def test_a_password_that_cannot_be_written_is_reported_not_retried(
    tmp_path: Path, hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    code = issue(hq.dsn, "s01")
    data = first_boot(tmp_path, "s01", broker, code, f"{server.url}/hq/enrol")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = load_settings(data, env={}, overrides={"mqtt_password_file": blocker / "secret"})
    outcome = appliance_enrolment.exchange(settings)
    assert (outcome.state, outcome.error) == ("refused", "not_written")
    assert "ask IT for a new code" in outcome.message
    assert (data / "enrolment-code").exists()
    [finding] = [f for f in diagnose(data) if f.topic == "cloud"]
    assert finding.level == "fail" and "not_written" in finding.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files away")
def test_enrolling_as_root_leaves_the_files_to_the_store_user(
    tmp_path: Path, hq: Hq, server: HqServer, broker: ShippedBroker
) -> None:
    code = issue(hq.dsn, "s01")
    data = first_boot(tmp_path, "s01", broker, code, f"{server.url}/hq/enrol")
    store_user = 65534  # nobody: any user but root
    os.chown(data, store_user, store_user)
    assert appliance_enrolment.exchange(load_settings(data, env={})).state == "enrolled"
    for name in ("mqtt-password", appliance_enrolment.STATUS_FILE):
        info = (data / name).stat()
        assert (info.st_uid, info.st_gid) == (store_user, store_user), name
