"""acs-callbacks: a callback receiver and event router for Call Automation applications."""

from callbacks.routing import Router

__all__ = ["Router"]
