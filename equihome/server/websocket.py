"""The WebSocket protocol of PROTOCOL.md: subscribe / unsubscribe / cancel and the seven
update types, sent through a queue bounded by bytes (per client and over all clients)."""

from __future__ import annotations

import collections
import json
import logging
from collections import deque
from typing import Any

import tornado.ioloop
import tornado.websocket

from equihome.server.handlers import Services, _utf8, canonical_id, open_access_refusal
from equihome.server.runs import Conflict, NotFound, json_text, wire

log = logging.getLogger("equihome.server")

MAX_MESSAGE = 64 * 1024         # bytes of a WebSocket message (larger: close 1009)
MAX_SUBSCRIPTIONS = 100         # per WebSocket connection (live runs)
MAX_REPLAYED = 1000             # finished runs remembered per connection (no second replay)
MAX_OUTBOX_BYTES = 16 * 1024 * 1024   # a client's unsent bytes before it is closed (1013)
MAX_TOTAL_OUTBOX_BYTES = 256 * 1024 * 1024  # every client's unsent bytes together


class SimulationSocket(tornado.websocket.WebSocketHandler):
    """The WebSocket protocol: subscribe / unsubscribe / cancel; the seven update types.

    A repeated ``subscribe`` to an id already subscribed on this connection is a no-op (no
    second replay); finished runs it has replayed count apart from the subscription limit.
    Outgoing messages wait in a queue bounded by bytes, per client and over all clients.
    """

    services: Services

    def initialize(self, services: Services) -> None:
        self.services = services
        self.owner: str | None = None
        self.subscriptions: set[str] = set()
        self.replayed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.outbox: deque[str] = deque()
        self.pending = 0          # bytes queued or being written to this client
        self.sending = False
        self.gone = False

    def current_owner(self) -> str | None:
        return self.services.keys.owner(self.get_query_argument("api_key", None))

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Refuse the handshake (401/403, JSON) before upgrading when the key is wrong or, on a
        --no-auth server, the Host or Origin is not loopback."""
        refusal = open_access_refusal(self.services, self.request.host,
                                      self.request.headers.get("Origin"))
        self.owner = None if refusal else self.current_owner()
        if self.owner is None:
            code, status = ("forbidden", 403) if refusal else ("unauthorized", 401)
            self.set_status(status)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json_text({"error": {"code": code, "details": None, "message": refusal
                                             or "a valid api_key query parameter is required"}}))
            return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        """Standalone: API keys authenticate, so any origin may connect (a --no-auth server
        already refused non-loopback origins in :meth:`get`)."""
        return True

    def connection_owner(self) -> str | None:
        """The owner id of this connection; None (and the connection closed 4401) without one,
        which the handshake already prevents."""
        if self.owner is None:
            self.close(4401, "unauthorized")
        return self.owner

    async def open(self, sim_id: str | None = None) -> None:
        owner = self.connection_owner()
        if owner is not None and sim_id is not None:  # /ws/simulations/{id}: the earlier client
            canonical = canonical_id(sim_id)
            if canonical is None:
                return self._error(None, "simulation_id must be a UUID")
            await self._subscribe(owner, canonical)

    async def on_message(self, message: str | bytes) -> None:
        owner = self.connection_owner()
        if owner is None:
            return
        try:
            cmd = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            return self._error(None, "malformed JSON")
        if not isinstance(cmd, dict):
            return self._error(None, "a command must be a JSON object")
        raw = cmd.get("simulation_id")
        given = raw if isinstance(raw, str) and _utf8(raw) else None
        action = cmd.get("action")
        if action not in ("subscribe", "unsubscribe", "cancel"):
            return self._error(given, f"unknown action {action!r} (subscribe, unsubscribe, cancel)")
        if raw is None:
            return self._error(None, "missing simulation_id")
        sim_id = canonical_id(raw)
        if sim_id is None:
            return self._error(given, "simulation_id must be a UUID")
        if action == "subscribe":
            await self._subscribe(owner, sim_id)
        elif action == "unsubscribe":
            self.subscriptions.discard(sim_id)
            self.replayed.pop(sim_id, None)
            self.services.runs.unsubscribe(sim_id, self)
        else:
            try:
                await self.services.runs.cancel(owner, sim_id)
            except NotFound:
                self._error(sim_id, "unknown simulation")
            except Conflict as exc:
                self._error(sim_id, str(exc))

    async def _subscribe(self, owner: str, sim_id: str) -> None:
        if sim_id in self.subscriptions or sim_id in self.replayed:
            return  # already subscribed: no second replay
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            return self._error(sim_id, f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        try:
            self.subscriptions.add(sim_id)
            live = await self.services.runs.subscribe(owner, sim_id, self)
        except NotFound:
            self.subscriptions.discard(sim_id)
            return self._error(sim_id, "unknown simulation")
        if not live and sim_id in self.subscriptions:  # replayed to its end: frees its slot
            self.subscriptions.discard(sim_id)
            self._remember(sim_id)

    def run_ended(self, sim_id: str, kept: bool) -> None:
        """A live subscription's run ended (its final message is queued): it frees its slot,
        and a repeated subscribe stays a no-op unless the run was deleted (not ``kept``)."""
        self.subscriptions.discard(sim_id)
        if kept:
            self._remember(sim_id)

    def _remember(self, sim_id: str) -> None:
        self.replayed[sim_id] = None
        while len(self.replayed) > MAX_REPLAYED:
            self.replayed.popitem(last=False)

    def _error(self, sim_id: str | None, text: str) -> None:
        self.send_text(json_text(wire(sim_id, {"type": "error", "error": text})))

    # Outgoing messages go through a queue bounded by bytes, drained by one coroutine per client.
    def send_text(self, text: str) -> None:
        if self.gone:
            return
        size = len(text)
        services = self.services
        # a client's own queue is bounded (one message larger than the bound still goes to a
        # client that has nothing else pending); all clients together never hold more than
        # MAX_TOTAL_OUTBOX_BYTES: beyond, the client asking for more is closed
        if (self.pending and self.pending + size > MAX_OUTBOX_BYTES) or (
                services.outbox_bytes + size > MAX_TOTAL_OUTBOX_BYTES):
            log.info("closing a WebSocket client that does not read (%d bytes queued)",
                     self.pending)
            self._drop()
            self.close(1013, "client too slow: message queue full")
            return
        self.outbox.append(text)
        self.pending += size
        services.outbox_bytes += size
        if not self.sending:
            self.sending = True
            tornado.ioloop.IOLoop.current().add_callback(self._drain)

    def _drop(self) -> None:
        """Forget every unsent message (and its bytes in the server's total)."""
        self.gone = True
        self.services.outbox_bytes -= self.pending
        self.pending = 0
        self.outbox.clear()

    async def _drain(self) -> None:
        try:
            while self.outbox and not self.gone:
                text = self.outbox[0]
                await self.write_message(text)
                if self.gone:
                    break
                self.outbox.popleft()
                self.pending -= len(text)
                self.services.outbox_bytes -= len(text)
        except tornado.websocket.WebSocketClosedError:
            self._drop()
        finally:
            self.sending = False

    def on_close(self) -> None:
        if not self.gone:
            self._drop()
        for sim_id in self.subscriptions:
            self.services.runs.unsubscribe(sim_id, self)
        self.subscriptions.clear()
