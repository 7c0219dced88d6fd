"""livedesk's signaling server: HTTP and WebSocket API, sessions, routing, presence."""

__version__ = "0.1.0"
