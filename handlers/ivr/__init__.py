"""Inbound IVR: answer incoming calls with menus; transfer, take a voicemail, play messages.

Enabled with ``callbacks serve --handlers ivr`` and configured in ``[ivr]`` (see
``docs/flows.md``): the settings and menu format are in :mod:`handlers.ivr.menu`, the call's
state in :mod:`handlers.ivr.call`, the operation contexts that carry its steps in
:mod:`handlers.ivr.contexts`, what it does in :mod:`handlers.ivr.steps`, its outcomes in
:mod:`handlers.ivr.progress`, and the plugin in :mod:`handlers.ivr.plugin`.
"""

from handlers.ivr.menu import IvrSettings
from handlers.ivr.plugin import IvrFlow, plugin

__all__ = ["IvrFlow", "IvrSettings", "plugin"]
