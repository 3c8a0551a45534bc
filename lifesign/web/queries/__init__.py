"""Read queries of the web pages and the API: pure functions over a Connection returning
dataclasses (the pages render them, the API and the benchmarks reuse them)."""
