"""The hub: ingest, tamper-evident store, timing rules, alert loop, notifications, API, console."""
