"""The sync page while the appliance has not traded its enrolment code yet (decisions.md §53):
retrying says so calmly, a refusal says what to ask IT for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance import enrolment
from appliance.settings import Settings
from tests.appliance.admin.conftest import AdminBrowser
from tests.conftest import make_settings


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    (data_dir / "enrolment-code").write_text("K7QJX-MP3RA-ZT2WD-F5NVE\n")
    return make_settings(
        data_dir,
        mqtt_host="127.0.0.1",
        mqtt_password_file=data_dir / "mqtt-password",
        enrol_code_file=data_dir / "enrolment-code",
        # Nothing listens on the discard port: the exchange can only be retried.
        enrol_url="http://127.0.0.1:9/hq/enrol",
    )


def test_the_sync_page_shows_a_pending_then_a_refused_enrolment(
    settings: Settings, supervisor: AdminBrowser
) -> None:
    html = supervisor.get("/admin/sync").text
    assert "has not enrolled with head office yet." in html

    assert enrolment.exchange(settings).state == "retry"
    html = supervisor.get("/admin/sync").text
    assert "has not enrolled with head office yet: http://127.0.0.1:9/hq/enrol cannot be" in html
    assert "it keeps trying by itself" in html

    refused = {"state": "refused", "error": "enrolment_used", "message": "already used"}
    (settings.data_dir / enrolment.STATUS_FILE).write_text(json.dumps(refused))
    html = supervisor.get("/admin/sync").text
    assert "refused this appliance's enrolment code (enrolment_used)" in html
    assert "Ask IT for a new code" in html

    # Once the password is there, the page is back to the link's state.
    assert settings.mqtt_password_file is not None
    settings.mqtt_password_file.write_text("a-password-from-the-cloud-0123\n")
    assert 'data-testid="sync-enrolment"' not in supervisor.get("/admin/sync").text
