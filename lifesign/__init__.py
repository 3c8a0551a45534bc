"""lifesign: certify benefit recipients as alive and eligible from departments' records."""

__version__ = "0.1.0"
