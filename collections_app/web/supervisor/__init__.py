"""Supervisor pages: queues and distribution, approvals, holds (views) and their forms."""
