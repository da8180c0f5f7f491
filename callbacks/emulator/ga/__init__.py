"""The GA Call Automation API of the emulator: what Microsoft's SDK and samples call today.

Call connections with scripted participants (:mod:`.connection`, :mod:`.roster`), their media
(:mod:`.media`, :mod:`.recognition`, :mod:`.streams`), recordings, incoming calls through an
Event Grid-shaped webhook (:mod:`.incoming`), and the REST and control routes (:mod:`.api`).
Callbacks are CloudEvents arrays, signed like every callback of the emulator.
"""
