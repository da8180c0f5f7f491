"""A local Call Automation emulator: the GA REST API Microsoft's SDK calls and the seed's 2021
one, simulated calls with scripted participants, realistic signed callbacks, incoming calls
through an Event Grid-shaped webhook.

Run it with ``callbacks emulate``, or in-process with :func:`serve_emulator` (``tls=True`` for
https); embed the ASGI app with :func:`create_emulator`. Every callback carries a fresh RS256
token, verifiable with the keys served at ``/calling/keys`` (``RunningEmulator.receiver_flags``
are the ``callbacks serve`` options that do it). The scenario format, tokens and the control
API are documented in ``docs/emulator.md``.
"""

from callbacks.emulator.app import create_emulator, emulator_of
from callbacks.emulator.config import DeliveryConfig, EmulatorConfig, FaultConfig
from callbacks.emulator.emulator import Emulator
from callbacks.emulator.scenario import CalleeScript, Scenario, load_scenario, parse_scenario
from callbacks.emulator.server import RunningEmulator, serve_asgi, serve_emulator

__all__ = [
    "CalleeScript",
    "DeliveryConfig",
    "Emulator",
    "EmulatorConfig",
    "FaultConfig",
    "RunningEmulator",
    "Scenario",
    "create_emulator",
    "emulator_of",
    "load_scenario",
    "parse_scenario",
    "serve_asgi",
    "serve_emulator",
]
