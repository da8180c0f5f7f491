"""An IVR call's state: who called whom, carried in the call's callback URL.

The IncomingCall handler answers with the callback URL ``.../api/callbacks/ivr:<state>?...``, so
every event of the call arrives with its state (``ctx.path_context``) and is logged with it:
``callbacks flows`` finds the IVR's calls by it, and no process remembers anything.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from callbacks import flow_callback_url

FLOW = "ivr"
FLOW_IDS = uuid.UUID("9d1c34c2-6a8e-5f7b-b0e4-2c4a3f8e7d61")
"""IVR flow ids: uuid5(this, the incoming call's correlation id), so a redelivered IncomingCall
gets the same id."""


class IvrCall(BaseModel):
    """The state of one answered call."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    caller: str
    """Who called (raw id: ``4:+1425...``, ``8:acs:...``): the recognizes listen to them."""
    callee: str
    """The number or user called."""

    @classmethod
    def answering(cls, correlation_id: str, caller: str, callee: str) -> IvrCall:
        """The state of an incoming call about to be answered."""
        return cls(id=uuid.uuid5(FLOW_IDS, correlation_id).hex[:16], caller=caller,
                   callee=callee)

    def callback_url(self, base: str) -> str:
        """The call's callback URL: the receiver's ``base`` with this state in its path."""
        return flow_callback_url(base, FLOW, self.model_dump())
