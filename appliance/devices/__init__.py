"""The store's devices: receipt printers and cash drawers (scanners are in appliance/scans.py)."""
