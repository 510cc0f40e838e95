"""Demo-store and benchmark data: a generated catalog, staff and store name."""
