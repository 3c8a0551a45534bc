"""The REST API for departments and apps (token per department, rate-limited, logged)."""
