"""Supervisor pages: queues and distribution, approvals, holds (views) and their forms.

Reads go through selectors (row scope, fixed query counts), writes through services; a refusal is
shown in place with its reason, never as a 500. Pages answer 404 to other roles; action URLs are
POST only (405 otherwise) and CSRF-protected.
"""
