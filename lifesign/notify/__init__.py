"""Notifications: the outbox, message templates, SMS gateways."""
