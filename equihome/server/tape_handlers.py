"""The loan-tape routes (PROTOCOL.md, ``POST /loan-tapes``): upload, list, get, delete.

A tape is owned by the key that uploaded it, exactly like a run: another key gets 404. The
upload streams its body, up to MAX_TAPE_BODY (the other routes keep MAX_BODY); its key,
Content-Type and Content-Length are checked when its headers arrive, and a refused upload's
body is read and dropped (never kept) before the answer, so the client reads the answer
instead of a reset connection. A tape is parsed and validated off the event loop. Its stored
bytes count in the key's quota (507 beyond, or the oldest finished runs pruned with
``--prune-oldest``).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import tornado.web

from equihome.io.loan_tape import LoanTapeError
from equihome.server.handlers import ApiError, BaseHandler, Services, canonical_id
from equihome.server.lifecycle import ACTIVE
from equihome.server.runs import Quota, QuotaExceeded, json_text_with
from equihome.server.store import Store, TapeRecord
from equihome.server.tapes import (
    MAX_TAPE_BODY,
    MAX_TAPES,
    TAPE_MEDIA_TYPE,
    parse_upload,
    problem_count,
    referenced_tape,
    tape_details,
)

READ_OVER = 8  # bodies up to READ_OVER x the limit are read and answered 413 (as elsewhere)


def tape_view(rec: TapeRecord) -> dict[str, Any]:
    """A tape as the API answers it: id, rows (loans), created_at, bytes (no owner)."""
    return {"id": rec["id"], "rows": rec["rows"], "created_at": rec["created_at"],
            "bytes": rec["bytes"]}


def admit_tape(store: Store, quota: Quota, owner: str, body: str,
               rows: int) -> tuple[TapeRecord, list[str]]:
    """On the db thread (the store's single writer, so the check and the insert are one step):
    store ``owner``'s tape if its bytes fit in the key's quota, after deleting the key's
    oldest finished runs when pruning is on (their ids are returned). QuotaExceeded beyond
    the quota or MAX_TAPES tapes."""
    size = len(body.encode("utf-8"))
    count = len(store.list_tapes(owner))
    if count >= MAX_TAPES:
        raise QuotaExceeded(f"this key stores {count:,} loan tapes, the most it may: delete "
                            "some (DELETE /api/loan-tapes/{id})")
    pruned: list[str] = []
    while True:
        _, used = store.usage(owner)
        if used + size <= quota.bytes:
            return store.save_tape(str(uuid.uuid4()), owner, body, rows), pruned
        oldest = store.oldest_finished(owner, 1) if quota.prune else []
        if not oldest:
            raise QuotaExceeded(
                f"this key stores {used / 2**20:,.1f} MiB and this tape needs "
                f"{size / 2**20:,.1f} MiB more; the quota is {quota.bytes / 2**20:,.0f} MiB: "
                "delete loan tapes (DELETE /api/loan-tapes/{id}) or finished runs, or run the "
                "server with --prune-oldest")
        store.delete(oldest[0])
        pruned.append(oldest[0])


def media_type(header: str | None) -> tuple[str, str | None]:
    """(media type, charset or None) of a Content-Type header, lower-case."""
    media, *params = (p.strip() for p in (header or "").split(";"))
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.lower(), charset


def invalid_tape(exc: LoanTapeError) -> ApiError:
    """The 422 of a bad upload: every problem in ``details`` (row, column, value, rule)."""
    details = tape_details(exc.errors)
    return ApiError(422, "invalid_loan_tape", f"the loan tape has {problem_count(exc.errors):,} "
                    f"problem(s), e.g. {details[0]['msg']}", details)


@tornado.web.stream_request_body
class LoanTapesHandler(BaseHandler):
    """POST uploads a CSV tape (``Content-Type: text/csv``, at most MAX_TAPE_BODY bytes):
    201 ``{"id", "rows", "errors": []}`` or 422 listing every bad row. GET lists this key's
    tapes, newest first: ``{"items": [{"id", "rows", "created_at", "bytes"}]}``."""

    max_body = MAX_TAPE_BODY

    def initialize(self, services: Services, compat: bool = False) -> None:
        super().initialize(services, compat)
        self.chunks = bytearray()         # the body, up to max_body
        self.received = 0                 # bytes of the body received
        self.refusal: ApiError | None = None

    def check_body(self) -> None:
        """When the headers arrive: raise this request's body limit, then decide whether the
        upload is refused (no key 401, another media type 415, over the limit 413); the
        answer waits for the body, which is then dropped instead of kept."""
        connection = self.request.connection
        if connection is not None and hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(READ_OVER * self.max_body)
        try:
            if self.request.method == "POST":
                self.current_owner()
                media, charset = media_type(self.request.headers.get("Content-Type"))
                if media != TAPE_MEDIA_TYPE or charset not in (None, "utf-8", "utf8"):
                    shown = self.request.headers.get("Content-Type") or "none"
                    raise ApiError(415, "unsupported_media_type", "a loan tape is uploaded "
                                   f"as CSV: send Content-Type: {TAPE_MEDIA_TYPE} (UTF-8), "
                                   f"got {shown}")
            super().check_body()
        except ApiError as exc:
            self.refusal = exc

    def data_received(self, chunk: bytes) -> None:
        """Keep the body up to the limit (nothing of a refused one); count the rest."""
        self.received += len(chunk)
        if self.refusal is None and self.received <= self.max_body:
            self.chunks += chunk

    def refused(self) -> None:
        if self.refusal is None and self.received > self.max_body:
            self.refusal = ApiError(413, "too_large",
                                    f"request body over the {self.max_body} byte limit")
        if self.refusal is not None:
            raise self.refusal

    async def post(self) -> None:
        self.refused()
        owner = self.current_owner()
        try:  # CPU-bound (a 10,000-loan tape takes about half a second): off the event loop
            body, rows = await asyncio.to_thread(parse_upload, bytes(self.chunks))
        except LoanTapeError as exc:
            raise invalid_tape(exc) from None
        runs = self.services.runs
        try:  # on the store's writer thread: the quota check and the insert in one step
            rec, pruned = await runs._db(admit_tape, runs.store, runs.quota, owner, body, rows)
        except QuotaExceeded as exc:
            raise ApiError(507, "quota_exceeded", str(exc)) from None
        for gone in pruned:
            runs.states.pop(gone, None)
        self.reply({"id": rec["id"], "rows": rec["rows"], "errors": []}, 201)

    async def get(self) -> None:
        self.refused()
        owner = self.current_owner()
        runs = self.services.runs
        tapes = await runs._db(runs.store.list_tapes, owner)
        self.reply({"items": [tape_view(t) for t in tapes]})


class LoanTapeHandler(BaseHandler):
    """GET one tape with its rows (``loans``); DELETE it (204; 409 while a queued or running
    run of this key names it)."""

    async def record(self, tape_id: str) -> TapeRecord:
        """This key's tape ``tape_id``; 404 for an unknown id or another key's tape."""
        owner = self.current_owner()
        canonical = canonical_id(tape_id)
        runs = self.services.runs
        rec = await runs._db(runs.store.get_tape, canonical) if canonical else None
        if rec is None or rec["owner"] != owner:
            raise ApiError(404, "not_found", "unknown loan tape")
        return rec

    async def get(self, tape_id: str) -> None:
        rec = await self.record(tape_id)
        runs = self.services.runs
        body = await runs._db(runs.store.tape_body, rec["id"])
        if body is None:  # deleted meanwhile
            raise ApiError(404, "not_found", "unknown loan tape")
        self.finish(json_text_with({**tape_view(rec), "loans": None}, "loans", body))

    async def delete(self, tape_id: str) -> None:
        rec = await self.record(tape_id)
        users = sorted(sim_id for sim_id, st in self.services.runs.states.items()
                       if st.record["owner"] == rec["owner"] and st.record["status"] in ACTIVE
                       and referenced_tape(st.record["config"]) == rec["id"])
        if users:
            raise ApiError(409, "conflict", f"loan tape {rec['id']} is used by {len(users)} "
                           f"queued or running run(s) ({', '.join(users[:5])}): cancel them or "
                           "wait until they finish")
        runs = self.services.runs
        await runs._db(runs.store.delete_tape, rec["id"])
        self.set_status(204)
        self.finish()
