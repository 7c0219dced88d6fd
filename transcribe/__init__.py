"""Offline speech-to-text behind one interface.

Nothing here is built yet; the transcription issue fills it. It never imports ``signaling``.
"""
