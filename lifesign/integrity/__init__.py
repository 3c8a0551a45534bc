"""Integrity: fraud signals (冒领), excess (多领) and duplicate (重领) claims, recovery cases."""
