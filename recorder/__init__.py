"""Crash-safe recording of encoded media and the session timeline.

Nothing here is built yet; the recording issue fills it. It never imports ``signaling``.
"""
