"""Numbered schema migrations: `NNNN_name.py` modules with `up(db, migrator)`. Never edit a shipped one."""
