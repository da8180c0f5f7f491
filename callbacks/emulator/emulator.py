"""The emulator's state: 2021 calls, GA connections, journal, faults, repeatability and
callback delivery."""

from __future__ import annotations

import httpx2

from callbacks.emulator.calls import Call, CallEnvironment
from callbacks.emulator.config import EmulatorConfig
from callbacks.emulator.delivery import Delivery
from callbacks.emulator.errors import NotFound
from callbacks.emulator.events2021 import EventFactory
from callbacks.emulator.faults import Faults
from callbacks.emulator.ga.service import GaService
from callbacks.emulator.journal import Journal
from callbacks.emulator.repeatability import Repeatability
from callbacks.emulator.scenario import Scenario
from callbacks.emulator.schemas import CreateCallBody
from callbacks.emulator.signing import CallbackSigner
from callbacks.emulator.tokens import TokenIssuer


class Emulator:
    """One emulated Call Automation resource: what the REST and control APIs act on."""

    def __init__(self, config: EmulatorConfig, *, tokens: TokenIssuer | None = None) -> None:
        self.config = config
        self.scenario: Scenario = config.scenario
        """The scenario in force; replaced by ``PUT /emulator/scenario``."""
        self.journal = Journal(config.journal_size)
        self.faults = Faults(config.faults)
        self.repeatability = Repeatability(config.journal_size)
        self.signer = CallbackSigner(
            config.token_issuer, config.resource_id, config.token_lifetime, tokens=tokens
        )
        """Signs every callback attempt; its keys outlive :meth:`reset`."""
        self.delivery = Delivery(
            config.delivery, self.faults, self.journal, self.signer.authorization
        )
        self.calls: dict[str, Call] = {}
        self._env = CallEnvironment(
            config, EventFactory(config.event_ids), self.delivery.send, lambda: self.scenario
        )
        self.ga = GaService(config, self.delivery, lambda: self.scenario)
        """GA call connections, incoming calls and recordings."""

    def __repr__(self) -> str:
        return f"Emulator(calls={len(self.calls)}, connections={len(self.ga.connections)})"

    def start(self, client: httpx2.AsyncClient) -> None:
        """Begin serving: callbacks go through ``client`` (the app's shared client)."""
        self.delivery.bind(client)

    async def stop(self) -> None:
        """Cancel every timer and delivery and wait for them to finish."""
        for call in self.calls.values():
            await call.timers.close()
        await self.ga.stop()
        await self.delivery.close()

    async def reset(self) -> None:
        """Back to the state at start: no calls, records, repeatability ids or forced faults,
        the configured scenario and faults; nothing more is posted for earlier calls.
        The signing keys stay: receivers have them cached."""
        await self.stop()
        self.calls.clear()
        await self.ga.reset()
        self.journal.clear()
        self.repeatability.clear()
        self.faults.reset()
        self.faults.configure(self.config.faults)
        self.scenario = self.config.scenario

    def create_call(self, body: CreateCallBody) -> Call:
        """Create a call and start ringing its targets."""
        call = Call(
            self._env,
            body.targets,
            body.callback_uri,
            body.requested_call_events,
            body.subject,
        )
        self.calls[call.id] = call
        call.start()
        return call

    def call(self, call_id: str) -> Call:
        """The call ``call_id``; :class:`NotFound` if the emulator never created it."""
        call = self.calls.get(call_id)
        if call is None:
            raise NotFound(f"call {call_id} not found", code="CallNotFound")
        return call
