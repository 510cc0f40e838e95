"""Staff managed from HQ: roles per store, synced to the appliances; lockouts and overrides.

Not built yet: no routes (the navigation shows it disabled)."""
