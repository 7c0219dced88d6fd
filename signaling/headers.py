"""Security headers shared by every response."""

from __future__ import annotations

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)

CSP_VIEWER = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline' http: https:; "
    "img-src 'self' data: blob: http: https:; font-src 'self' data: http: https:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
"""Pages that show a co-browsed page (the agent console, the QA review): the page's own
styles, images and fonts must load in the replay iframe, which inherits this policy.
Scripts stay ``'self'`` only, and the iframe is sandboxed without scripts anyway."""
