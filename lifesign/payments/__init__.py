"""Payment lists per program and month for the paying departments (docs/payment-lists.md)."""
