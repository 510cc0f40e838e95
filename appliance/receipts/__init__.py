"""Printed documents: receipts, reports and test pages, as ESC/POS, PNG and text."""
