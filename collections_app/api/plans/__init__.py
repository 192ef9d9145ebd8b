"""Repayment plans and settlements over the API (CONTRACT.md "Repayment plans and settlements")."""
