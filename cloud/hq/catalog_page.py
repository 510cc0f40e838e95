"""The catalog master: products, variants, barcodes, categories, vendors, prices, CSV.

Not built yet: no routes (the navigation shows it disabled)."""
