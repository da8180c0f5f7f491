"""Plugins for the plugin tests: one with settings of several types, one broken at import."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from callbacks import Context, Plugin, Router
from callbacks.events import Event


class TickSettings(BaseModel):
    """Settings of the ``ticker`` test plugin."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audio_url: str = Field(description="what to play")
    repeats: int = Field(default=2, ge=1, le=5, description="how often")
    token: SecretStr | None = Field(default=None, description="a secret")
    rooms: list[str] = Field(default_factory=list, description="where")


router = Router()


@router.on("*")
async def seen(event: Event, ctx: Context) -> None:
    """Read this plugin's settings, so a test can see they arrive."""
    ctx.settings(TickSettings)


plugin = Plugin("ticker", router, "A test plugin with settings.", settings=TickSettings)
same_settings = Plugin("ticker-twin", Router(), "Shares TickSettings.", settings=TickSettings)
no_settings = Plugin("bare", Router(), "No settings at all.")
