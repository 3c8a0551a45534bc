"""Certification: the pass over the evidence lake, the decisions ledger, explanations."""
