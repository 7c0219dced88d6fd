"""Offline speech-to-text for recorded sessions, behind one engine interface.

Each participant's microphone track is transcribed on its own, so every line carries its
speaker without guessing. ``model`` (segments, merge, WebVTT, text) and ``redact`` are
pure; ``audio`` decodes and segments a track; ``engines`` wraps the recognisers
(pocketsphinx by default, offline, no download); ``pipeline`` puts them together and
``python -m transcribe DIR`` runs it as a worker process. It never imports ``signaling``.
"""
