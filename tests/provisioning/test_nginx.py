"""The shipped nginx site (firmware_config/nginx/tillbox.conf) run by a real nginx in front of
a real appliance: HTTPS on the TLS port reaches waitress, plain HTTP is redirected, the scan
stream is not buffered. Only the ports and the certificate's paths are changed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from appliance.server import RunningServer
from tests.appliance.sync.mqtt_fakes import _listening, free_port, make_ca_and_server_cert, wait_for

SITE = Path(__file__).resolve().parents[2] / "firmware_config/nginx/tillbox.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is installed by scripts/ensure-services.sh"
)


def render(conf: str, replacements: dict[str, str | None]) -> str:
    """Whole lines replaced (None removes them); each must be in the shipped site."""
    lines = conf.splitlines()
    for old, new in replacements.items():
        hits = [i for i, line in enumerate(lines) if line.strip() == old]
        assert hits, f"the shipped site no longer has a line {old!r}"
        for i in hits:
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = "" if new is None else indent + new
    return "\n".join(lines) + "\n"


@pytest.fixture
def nginx(tmp_path: Path, server: RunningServer) -> Iterator[tuple[int, int, Path]]:
    """nginx with the shipped site, proxying to `server`: (https port, http port, CA file)."""
    (tmp_path / "pki").mkdir()
    ca = make_ca_and_server_cert(tmp_path / "pki")
    https, http = free_port(), free_port()
    site = render(
        SITE.read_text(),
        {
            "listen 80 default_server;": f"listen 127.0.0.1:{http} default_server;",
            "listen [::]:80 default_server;": None,
            "listen 443 ssl http2 default_server;": f"listen 127.0.0.1:{https} ssl http2 default_server;",
            "listen [::]:443 ssl http2 default_server;": None,
            "ssl_certificate /etc/tillbox/tls/fullchain.pem;": f"ssl_certificate {tmp_path}/pki/server.pem;",
            "ssl_certificate_key /etc/tillbox/tls/privkey.pem;": f"ssl_certificate_key {tmp_path}/pki/server.key;",
            "proxy_pass http://127.0.0.1:8080;": f"proxy_pass http://127.0.0.1:{server.port};",
        },
    )
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "temp"
    temp.mkdir()
    # The main configuration Debian's nginx.conf would give, reduced to what a test needs.
    (tmp_path / "nginx.conf").write_text(
        f"""daemon off;
user root;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/site.conf;
}}
"""
    )
    check = subprocess.run(
        [NGINX, "-t", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [NGINX, "-c", str(tmp_path / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _listening(https) and _listening(http), what="nginx")
        yield https, http, ca
    finally:
        process.terminate()
        process.wait(10)


def test_https_reaches_the_appliance(nginx: tuple[int, int, Path]) -> None:
    https, _, ca = nginx
    response = requests.get(f"https://127.0.0.1:{https}/api/v1/health", verify=str(ca), timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]
    # The appliance's own error shape comes through, not an nginx page.
    missing = requests.get(f"https://127.0.0.1:{https}/api/v1/nowhere", verify=str(ca), timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]


def test_plain_http_is_redirected_to_https(nginx: tuple[int, int, Path]) -> None:
    _, http, _ = nginx
    response = requests.get(f"http://127.0.0.1:{http}/sell?x=1", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    # To the same host on the default HTTPS port (443 on the Pi), path and query kept.
    assert response.headers["Location"] == "https://127.0.0.1/sell?x=1"
