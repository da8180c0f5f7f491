"""The web console at ``/console`` (``callbacks serve --console``): the calls in the log, a call's
timeline, an event's detail, the dead events with a Retry button, updated live.

Rendered on the server with Jinja2 templates, a few lines of plain JavaScript, every asset
served from this package (it works offline). :mod:`.routes` lists the paths, :mod:`.auth` says
who may see them, :mod:`.live` how pages follow the log, :mod:`.render` how they are escaped.
"""

from callbacks.server.console.routes import Console

__all__ = ["Console"]
