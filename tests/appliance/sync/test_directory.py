"""The directory upload (`appliance.sync.directory`): a new version only when the content
changes, variant ids in rowid order, and only what the cloud's reply says it holds counts as
sent. The cloud's side and the whole path over MQTT are in tests/cloud/test_store_directory.py
and fault test 10."""

from __future__ import annotations

import msgspec
from paho.mqtt.properties import Properties

from appliance.staff.directory import update_staff
from appliance.sync.directory import DirectoryPush, read_state
from protocol.directory import DirectoryAck, DirectoryUpload
from tests.conftest import SMALL_CATALOG, Store


class Cloud:
    """Captures what the push sends, and answers it as a test says."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, DirectoryUpload, bytes]] = []

    def publish(self, topic: str, payload: bytes, props: Properties) -> None:
        self.sent.append(
            (topic, msgspec.json.decode(payload, type=DirectoryUpload), props.CorrelationData)
        )

    def answer(
        self, push: DirectoryPush, ack: DirectoryAck, *, correlation: bytes | None = None
    ) -> None:
        assert push.heard(
            push.reply_topic, msgspec.json.encode(ack), correlation or self.sent[-1][2]
        )
        push.drain()


def test_the_snapshot_goes_up_and_a_new_version_only_when_it_changes(store: Store) -> None:
    rt = store.rt
    cloud = Cloud()
    push = DirectoryPush(rt, cloud.publish)
    push.step()
    topic, upload, _ = cloud.sent[-1]
    assert topic == "tillbox/v1/stores/s01/rpc/directory"
    assert upload.directory is not None and upload.directory.version == 1
    assert {s.id for s in upload.directory.staff} == set(store.staff.values())
    assert all(s.pin_hash.startswith("$argon2id$") for s in upload.directory.staff)
    assert [r.id for r in upload.directory.registers] == [store.register_id]
    assert upload.directory.settings["currency"] == "EUR"
    # Not answered yet: nothing more goes until the timeout.
    push.step()
    assert len(cloud.sent) == 1
    cloud.answer(push, DirectoryAck(version=1))
    assert read_state(rt.db).acked_version == 1
    push.connected()  # looks again at once: nothing changed, nothing sent
    push.step()
    assert len(cloud.sent) == 1 and read_state(rt.db).version == 1

    update_staff(rt, store.staff["cashier"], name="Renamed")
    push.connected()
    push.step()
    upload = cloud.sent[-1][1]
    assert upload.directory is not None and upload.directory.version == 2
    assert "Renamed" in {s.name for s in upload.directory.staff}


def test_a_reply_to_another_request_or_an_error_counts_for_nothing(store: Store) -> None:
    rt = store.rt
    cloud = Cloud()
    push = DirectoryPush(rt, cloud.publish)
    push.step()
    cloud.answer(push, DirectoryAck(version=1), correlation=b"someone else's")
    assert read_state(rt.db).acked_version == 0
    cloud.answer(push, DirectoryAck(error="register s02-r01 is not one of s01's"))
    state = rt.db.one("SELECT acked_version, problem FROM cloud_directory")
    assert state is not None and state["acked_version"] == 0
    assert state["problem"] == "register s02-r01 is not one of s01's"
    assert push.heard(push.reply_topic, b"{not json", cloud.sent[-1][2])
    push.drain()
    assert read_state(rt.db).acked_version == 0


def test_a_cloud_ahead_of_this_database_gets_the_next_number(store: Store) -> None:
    """A database restored from a backup numbers its snapshots from where it was; the cloud
    holds a later one, so the next goes above it rather than being ignored as stale."""
    rt = store.rt
    cloud = Cloud()
    push = DirectoryPush(rt, cloud.publish)
    push.step()
    cloud.answer(push, DirectoryAck(version=7))
    state = read_state(rt.db)
    assert (state.version, state.acked_version) == (7, 1)
    push.connected()
    push.step()
    upload = cloud.sent[-1][1]
    assert upload.directory is not None and upload.directory.version == 8
    cloud.answer(push, DirectoryAck(version=8))
    assert read_state(rt.db).acked_version == 8


def test_variant_ids_go_in_rowid_order_and_count_only_when_held(store: Store) -> None:
    from appliance.catalog.csvio import import_csv

    rt = store.rt
    assert import_csv(rt, SMALL_CATALOG.encode()).applied
    cloud = Cloud()
    push = DirectoryPush(rt, cloud.publish)
    push.step()
    upload = cloud.sent[-1][1]
    ids = [row["id"] for row in rt.db.query("SELECT id FROM variant ORDER BY id")]
    assert upload.variants_after == 0 and [v[0] for v in upload.variants] == ids
    skus = {row["uid"]: row["sku"] for row in rt.db.query("SELECT uid, sku FROM variant")}
    assert {uid: sku for _, uid, sku in upload.variants} == skus
    # A reply that does not cover what was sent moves nothing: it is sent again.
    cloud.answer(push, DirectoryAck(version=1, variants_through=ids[0]))
    assert read_state(rt.db).variants_through == 0
    push.connected()
    push.step()
    cloud.answer(push, DirectoryAck(version=1, variants_through=ids[-1]))
    assert read_state(rt.db).variants_through == ids[-1]
    push.connected()
    push.step()
    assert len(cloud.sent) == 2  # the retry was not needed: nothing left to send
