"""The catalog: products, variants, barcodes, the change feed, search and CSV."""
