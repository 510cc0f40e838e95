"""Audit: adjustment trail, count variances, overrides, journal chains, dead letters.

Not built yet: no routes (the navigation shows it disabled)."""
