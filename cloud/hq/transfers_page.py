"""Transfers between stores: request, approve, ship, receive, in transit.

Not built yet: no routes (the navigation shows it disabled)."""
