"""The appliance's paho-mqtt client, as every connection of it to the cloud is set up: MQTT 5,
TLS unless switched off (with a private CA if one is given), the store's broker user and the
password from its file. The uplink and `restore --from-cloud` both use it."""

from __future__ import annotations

import logging
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from appliance.settings import Settings

_log = logging.getLogger(__name__)


class MqttSettingsError(ValueError):
    """The MQTT settings name a file that cannot be used; the message says which."""


def make_client(settings: Settings, *, store: str, client_id: str) -> mqtt.Client:
    """A configured client, not yet connected (callbacks, Will and reconnect are the caller's)."""
    s = settings
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.enable_logger(_log)
    if s.mqtt_tls:
        if s.mqtt_tls_ca is not None and not s.mqtt_tls_ca.is_file():
            raise MqttSettingsError(f"mqtt_tls_ca {s.mqtt_tls_ca} is not a file")
        client.tls_set(
            ca_certs=str(s.mqtt_tls_ca) if s.mqtt_tls_ca else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    username = s.mqtt_username or store
    password = None
    if s.mqtt_password_file is not None:
        try:
            password = s.mqtt_password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise MqttSettingsError(
                f"mqtt_password_file {s.mqtt_password_file} cannot be read: {exc}"
            ) from None
    if password is not None or s.mqtt_username:
        client.username_pw_set(username, password)
    return client
