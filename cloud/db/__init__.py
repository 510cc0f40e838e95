"""The cloud's PostgreSQL schema: numbered SQL migrations applied by cloud.migrate."""
