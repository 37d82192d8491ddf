"""Browser test support: headless Chromium, a live server on loopback, axe-core audits."""
