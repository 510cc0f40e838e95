"""MQTT topic names shared by the appliance and the cloud (ARCHITECTURE.md, Hop 2)."""

from __future__ import annotations

PREFIX = "tillbox/v1"


def events_topic(store: str) -> str:
    """Where a store's appliance publishes batches of events (QoS 1)."""
    return f"{PREFIX}/stores/{store}/events"


def acks_topic(store: str) -> str:
    """Where the cloud answers a store's batches: `{"applied_through": n}` or `{"expected": n}`."""
    return f"{PREFIX}/stores/{store}/acks"


def status_topic(store: str) -> str:
    """A store appliance's retained status, with its Last Will."""
    return f"{PREFIX}/stores/{store}/status"


def catalog_head_topic() -> str:
    """The cloud's retained catalog version `{"version": n}`, read by every store."""
    return f"{PREFIX}/catalog/head"


def catalog_request_topic(store: str) -> str:
    """Where a store asks the cloud for catalog changes (MQTT 5 request/response)."""
    return f"{PREFIX}/stores/{store}/rpc/catalog"


def catalog_reply_topic(store: str) -> str:
    """Where the cloud answers a store's catalog requests (the request's response topic)."""
    return f"{PREFIX}/stores/{store}/rpc/catalog/reply"


def rpc_request_topic(store: str, name: str) -> str:
    """Where a store asks the cloud (`catalog`, `directory`, `restore`; MQTT 5 request)."""
    return f"{PREFIX}/stores/{store}/rpc/{name}"


def rpc_reply_topic(store: str, name: str) -> str:
    """Where the cloud answers a store's `name` requests (the request's response topic)."""
    return f"{PREFIX}/stores/{store}/rpc/{name}/reply"
