"""Built-in handler plugins of acs-callbacks; each module exports a ``Router``."""
