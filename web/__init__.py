"""Templates and static assets. No logic lives here."""

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
NODE_MODULES = Path(__file__).parent / "node_modules"
