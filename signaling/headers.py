"""Security headers shared by every response."""

from __future__ import annotations

from signaling.config import Config

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

PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), "
    "geolocation=(), payment=(), usb=(), midi=(), "
    "accelerometer=(), gyroscope=(), magnetometer=()"
)
"""What the pages may ask the browser for: camera, microphone and screen for a call on
livedesk's own pages (never inside another site's frame), and nothing else."""

HSTS = "max-age=31536000"
"""Sent only when the deployment is served over HTTPS (see ``served_over_https``): a
browser then refuses plain HTTP to this host for a year."""


def served_over_https(cfg: Config) -> bool:
    """The operator says the public address is HTTPS (``server.public_url``), or that
    cookies need it (``auth.cookie_secure``): TLS is terminated in front of livedesk."""
    return cfg.server.public_url.startswith("https://") or cfg.auth.cookie_secure
