"""The private work-engine HTTP app (`/api/*`), reached only through the portal."""
