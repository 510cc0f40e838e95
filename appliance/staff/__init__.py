"""Staff, roles, registers, sessions and overrides."""
