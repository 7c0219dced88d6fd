"""The media and co-browse plane: aiortc peers, encoded-frame forwarding, co-browse relay.

Nothing here is built yet; the media issue fills it. It never imports ``signaling``.
"""
