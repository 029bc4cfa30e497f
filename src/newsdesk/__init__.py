"""newsdesk: a self-hosted AI news desk."""

from __future__ import annotations

__version__ = "0.1.0"
