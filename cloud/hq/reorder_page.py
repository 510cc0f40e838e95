"""Low-stock alerts and the reorder report: suggestions by category and vendor, draft POs.

Not built yet: no routes (the navigation shows it disabled)."""
