"""Sales analytics: trends, seasons, movers, margin, returns, overrides, cash over/short.

Not built yet: no routes (the navigation shows it disabled)."""
