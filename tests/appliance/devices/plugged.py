"""A barcode scanner plugged in, as the appliance's udev boundary reports it: for the tests
of the pages and endpoints that list, bind and configure scanners."""

from __future__ import annotations

from appliance.devices.scanners import InputNode, ScannerRow, record_seen
from appliance.runtime import Runtime


def plug_scanner(
    rt: Runtime,
    *,
    stable_id: str = "path:platform-usb-1.2",
    name: str = "Honeywell 1900",
    vendor_product: str = "0c2e:0b61",
) -> ScannerRow:
    """A USB keyboard-wedge scanner seen present at the device boundary; its row."""
    return record_seen(
        rt,
        InputNode(
            node="/dev/input/event7",
            stable_id=stable_id,
            name=name,
            vendor_product=vendor_product,
            bluetooth=False,
            tagged=True,
            keyboard=True,
        ),
        present=True,
    )
