"""One campaign run in one worker process: limiter -> claim -> send concurrently -> write back.

A Celery task (``campaigns.run``) runs :func:`campaign_run` per campaign, never per message;
several runs (on several machines) can work on the same campaign at once: they share the
number's limiter in Redis and claim disjoint rows with ``SKIP LOCKED``.

Inside a run, an asyncio loop keeps up to ``DEPTH`` sub-batches in flight. Each one:

1. takes its tokens from the number's limiter first and waits for its slot, so a claimed row
   is put on the wire right after its claim commits;
2. claims that many due rows with a lease;
3. takes the limiter's second look (``aconform``: a sub-batch whose claim was slow must not
   leave right behind the next one and pass the rate), marks the rows as leaving
   (``recipients_sending``, committed: a row that dies unmarked provably never left and goes
   back to the queue; only the instant between the mark's commit and the write can leave a
   never-sent row ``unknown``), then sends them concurrently over the process's pooled
   client (``inbox.providers.http``);
4. writes the outcomes, the conversation messages and the timeline in one transaction.

Between sub-batches the run reads the campaign's state (at most every ``STATE_EVERY`` s), so a
pause, resume or cancel reaches every worker within that time; requests in flight finish and
their outcomes are written, nothing claimed is lost (unsent claims are released).

Database calls run in four threads of the run (Django's connections are per thread: claims,
marks, write-backs, and the looks between sub-batches), each in the company's schema, so the loop
keeps sending while a write commits and a claim never waits behind another kind of call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from campaigns.dispatch import outcomes as oc
from campaigns.dispatch.claim import Claimed, recipients_claim_within_plan, recipients_release, recipients_sending
from campaigns.dispatch.reconcile import callback_ref, leases_reconcile
from campaigns.models import CampaignState, PauseReason
from campaigns.rendering import render_text, template_body_text, template_components

logger = logging.getLogger(__name__)

# Sub-batches in flight (waiting for their slot, claiming, marking, sending, recording). With
# STEP_SECONDS of the rate each, the few of them on the wire at once stay within the pooled
# client's connections: a marked row waits for no connection before its request leaves, which
# keeps the window where a crash leaves a never-sent row "unknown" to an instant. Four, since
# the mark before each send added a round trip to every sub-batch.
DEPTH = int(getattr(settings, "CAMPAIGN_PIPELINE_DEPTH", 4))
STATE_EVERY = float(getattr(settings, "CAMPAIGN_STATE_EVERY_S", 0.1))
STEP_SECONDS = 0.02  # a sub-batch holds about this much of the number's rate
MAX_CHUNK = 20
HEARTBEAT_TTL = 15
WRITE_QUEUE = 16  # sub-batches waiting for the writer before sends wait for it
MERGE_MAX = 12
# The writer waits up to this long for more sub-batches before it writes (at most WRITE_ROWS
# rows at once): a write-back costs mostly per statement and per commit, not per row, so one of
# a hundred rows costs little more than one of twenty. Rows wait claimed and marked meanwhile,
# as they do while any write-back is on its way (a crash leaves them to the status webhooks and
# the reconciler, never to a second send).
WRITE_LINGER_S = float(getattr(settings, "CAMPAIGN_WRITE_LINGER_S", 0.1))
WRITE_ROWS = 200
QUALITY_EVERY = 0.5


@dataclass
class Content:
    variant_id: int
    kind: str  # template / text / media
    template: Any = None
    body: str = ""
    media: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None


@dataclass
class RunState:
    state: str
    pause_reason: str
    waiting_until: Any
    session_state: str
    channel_active: bool
    time_zone: str = "America/Sao_Paulo"
    window_start: Any = None
    window_end: Any = None
    window_days: Any = None


def worker_id() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{secrets.token_hex(3)}"


class CampaignRun:
    def __init__(
        self, *, schema: str, campaign_id: int, owner: str | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.schema = schema
        self.campaign_id = campaign_id
        self.owner = owner or worker_id()
        self.clock = clock
        # Database threads, each keeping its connection (in the company's schema) for the
        # whole run: claims, the marks right before sends, write-backs, and the looks between
        # sub-batches (state, heartbeat, quality guard), so a claim or a mark never queues
        # behind another kind of call.
        self.pools = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"camp{campaign_id}-{name}")
            for name in ("claim", "mark", "write", "state")
        }
        self.stop_reason = ""
        self._state: RunState | None = None
        self._state_at = 0.0
        self._inflight: set[asyncio.Task] = set()
        self.sent = 0
        self._drained = False
        self._quality = [0, 0]
        self._quality_at = 0.0
        # Database work by function: [calls, seconds running, seconds queued for a thread].
        self.timings: dict[str, list] = {}

    # --- database, in the pool's threads ------------------------------------------------------

    async def db(self, fn: Callable[..., Any], *args: Any, on: str = "claim", **kwargs: Any) -> Any:
        """Run ``fn`` in the run's database thread ``on`` (claim, write, state), in the
        company's schema. The thread keeps its connection between calls (no pool round trip,
        no new ``search_path`` per call); a failed call gives it back, the next opens another."""
        queued = time.perf_counter()

        def call():
            started = time.perf_counter()
            if connection.schema_name != self.schema:
                close_old_connections()
                connection.set_schema(self.schema)
            try:
                return fn(*args, **kwargs)
            except Exception:
                connection.close()
                raise
            finally:
                name = getattr(fn, "__name__", "db")
                spent = self.timings.setdefault(name, [0, 0.0, 0.0])
                spent[0] += 1
                spent[1] += time.perf_counter() - started
                spent[2] += started - queued

        return await asyncio.get_running_loop().run_in_executor(self.pools[on], call)

    def _close_thread_connection(self) -> None:
        connection.close()
        connection.set_schema_to_public()  # type: ignore[attr-defined]

    def _load(self):
        from campaigns.models import Campaign, CampaignVariant
        from inbox.limits import limiter_for
        from inbox.providers import get_provider

        campaign = Campaign.objects.select_related("channel").get(pk=self.campaign_id)
        channel = campaign.channel
        contents: dict[int, Content] = {}
        for variant in CampaignVariant.objects.filter(campaign=campaign).select_related("template"):
            mapping = {
                **(variant.template.variables if variant.template else {}),
                **campaign.variables,
                **variant.variables,
            }
            if variant.template is not None and channel.kind == "whatsapp_cloud":
                contents[variant.pk] = Content(variant.pk, "template", template=variant.template, mapping=mapping)
            elif variant.media and variant.provider_media_id:
                kind = (variant.media_mime or "image/").split("/")[0]
                kind = kind if kind in ("image", "video", "audio") else "document"
                media = {"kind": kind, "id": variant.provider_media_id, "filename": variant.media_filename}
                contents[variant.pk] = Content(variant.pk, "media", body=variant.body, media=media, mapping=mapping)
            else:
                body = variant.body
                if variant.template is not None and not body:
                    part = variant.template.component("BODY") or {}
                    body = str(part.get("text", ""))
                contents[variant.pk] = Content(variant.pk, "text", body=body, mapping=mapping)
        sms_callback = ""
        if channel.kind == "sms":
            from inbox.selectors import channel_webhook_url

            sms_callback = channel_webhook_url(channel)
        provider = get_provider(channel, callback_url=sms_callback)
        provider._schema = self.schema  # type: ignore[attr-defined]  # providers never look it up
        limiter = limiter_for(channel)
        from campaigns.links import LinkRewriter

        # Tracked links: each recipient's short address (texts) and button suffix (templates).
        self.links = LinkRewriter.for_campaign(campaign)
        from tenants import limits
        from tenants.context import current_company

        self.messages_limit = limits.limit_of(current_company(), limits.MESSAGES)
        return campaign, channel, contents, provider, limiter, sms_callback

    def _read_state(self) -> RunState:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.state, c.pause_reason, c.waiting_until, ch.session_state, ch.is_active,"
                " c.time_zone, c.window_start, c.window_end, c.window_days"
                " FROM campaigns_campaign c JOIN inbox_channel ch ON ch.id = c.channel_id WHERE c.id = %s",
                [self.campaign_id],
            )
            row = cursor.fetchone()
        if row is None:
            return RunState(CampaignState.CANCELLED, "", None, "", False)
        return RunState(*row)

    async def state(self, *, fresh: bool = False) -> RunState:
        now = self.clock()
        if fresh or self._state is None or now - self._state_at >= STATE_EVERY:
            self._state = await self.db(self._read_state, on="state")
            self._state_at = now
        return self._state

    async def _outside_window(self, state: RunState) -> bool:
        """Checked in Python on the state already read (the window rarely changes); only a
        closed window costs a write (the campaign waits for the opening)."""
        from campaigns.dispatch import control
        from campaigns.schedule import window_next_open

        if state.window_start is None or state.window_end is None:
            if not state.window_days or len(state.window_days) == 7:
                return False
        opens = window_next_open(
            time_zone=state.time_zone,
            start=state.window_start,
            end=state.window_end,
            days=list(state.window_days or []),
        )
        if opens is None:
            return False
        await self.db(control.campaign_wait, campaign_id=self.campaign_id, reason="window", until=opens)
        return True

    def _running(self, state: RunState) -> bool:
        return state.state == CampaignState.RUNNING and state.waiting_until is None and state.channel_active

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> str:
        self._writes: asyncio.Queue = asyncio.Queue(maxsize=WRITE_QUEUE)
        writer = asyncio.ensure_future(self._writer())
        try:
            return await self._run()
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            await self._writes.put(None)
            await asyncio.gather(writer, return_exceptions=True)
            await self._quality_flush()
            from inbox.providers.http import close_session

            await close_session()
            for name in ("mark", "write", "state"):
                await self.db(self._close_thread_connection, on=name)
            await self.db(self._finish)
            for pool in self.pools.values():
                pool.shutdown(wait=True)

    def _finish(self) -> None:
        from campaigns.realtime import progress_publish

        logger.info(
            "campaign %s run %s ended (%s); database time: %s",
            self.campaign_id,
            self.owner,
            self.stop_reason,
            ", ".join(f"{k} {n}x {t:.2f}s (+{q:.2f}s queued)" for k, (n, t, q) in sorted(self.timings.items())),
        )
        from campaigns.dispatch import control
        from campaigns.models import Campaign

        _heartbeat(self.schema, self.campaign_id, self.owner, alive=False)
        if Campaign.objects.filter(pk=self.campaign_id, state=CampaignState.CANCELLED).exists():
            control.cancelled_skip(campaign_id=self.campaign_id)
        progress_publish(self.campaign_id, force=True)
        connection.close()

    async def _run(self) -> str:
        from campaigns.dispatch import control

        self.campaign, self.channel, self.contents, self.provider, self.limiter, self.sms_callback = await self.db(
            self._load
        )
        pace = self.provider.pace()
        if pace.one_at_a_time:
            return await self._run_paced()
        rate = max(1.0, float(self.campaign.rate_mps or self.limiter.limit.rate))
        if self.campaign.rate_mps:
            self.limiter.limit = type(self.limiter.limit)(
                rate=min(rate, self.limiter.limit.rate), burst=1, tier_users=self.limiter.limit.tier_users
            )
        chunk = max(1, min(MAX_CHUNK, int(self.limiter.limit.rate * STEP_SECONDS)))
        slots = asyncio.Semaphore(DEPTH)
        last_beat = 0.0
        while True:
            state = await self.state()
            if self.clock() - last_beat > HEARTBEAT_TTL / 3:
                await self.db(_heartbeat, self.schema, self.campaign_id, self.owner, on="state")
                last_beat = self.clock()
            if not self._running(state):
                return self.stop_reason or f"state {state.state}"
            if await self._outside_window(state):
                return "window"
            if self._drained:
                # A claim came back empty: let the sub-batches in flight finish, then decide.
                if self._inflight:
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                # A claim also comes back empty when the campaign stopped running (paused or
                # cancelled since the last look): that is the verdict then, not "done".
                state = await self.state(fresh=True)
                if not self._running(state):
                    return self.stop_reason or f"state {state.state}"
                verdict = await self.db(control.campaign_progress_check, campaign_id=self.campaign_id)
                if verdict == "draining" and await self.db(leases_reconcile, on="state"):
                    # Claims of a dead worker whose lease ran out: those it never marked went
                    # back to the queue (what beat would do a few seconds later); send them.
                    verdict = "wait"
                if verdict == "wait":
                    self._drained = False
                    await asyncio.sleep(0.5)
                    continue
                return verdict
            if self.stop_reason:
                return self.stop_reason
            await slots.acquire()
            try:
                wait = await self.limiter.atake(chunk)
            except Exception as exc:  # noqa: BLE001 - Redis down: nobody sends until it is back
                slots.release()
                logger.warning("limiter unavailable for campaign %s: %s", self.campaign_id, exc)
                await asyncio.sleep(1.0)
                continue
            if wait > 0:
                await asyncio.sleep(wait)
            if wait > STATE_EVERY and not self._running(await self.state()):
                slots.release()
                continue
            # The claim runs in the sub-batch itself, so the loop goes on reserving the next
            # slots while it commits (a slow claim must not slow the rate down).
            task = asyncio.ensure_future(self._claim_and_step(chunk))
            self._inflight.add(task)

            def done(t, slots=slots):
                self._inflight.discard(t)
                slots.release()
                if not t.cancelled() and t.exception() is not None:
                    logger.error("campaign %s sub-batch failed", self.campaign_id, exc_info=t.exception())

            task.add_done_callback(done)

    async def _claim(self, limit: int) -> list[Claimed] | None:
        """Claim within the plan's messages of the month; None (and the campaign paused) when
        they are used up."""
        rows, full = await self.db(
            recipients_claim_within_plan,
            campaign_id=self.campaign_id,
            limit=limit,
            owner=self.owner,
            messages_limit=self.messages_limit,
        )
        if full:
            from campaigns.dispatch import control

            self.stop_reason = "paused: plan_limit"
            await self.db(control.campaign_pause_plan_limit, campaign_id=self.campaign_id)
            self._state = None
            return None
        return rows

    async def _claim_and_step(self, chunk: int) -> None:
        rows = await self._claim(chunk)
        if rows is None:
            return
        if not rows:
            self._drained = True
            return
        rows = await self._tier_filter(rows)
        if rows:
            await self._step(rows, conform=True)

    async def _tier_filter(self, rows: list[Claimed]) -> list[Claimed]:
        """Rows the number's 24 h tier admits; the others go back to the queue and the
        campaign waits for the window to roll."""
        from campaigns.dispatch import control

        if self.limiter.limit.tier_users is None:
            return rows
        try:
            admitted = await self.limiter.atier_admit([r.phone for r in rows])
            if admitted is None:
                sent = await self.db(control.channel_recent_recipients, channel_id=self.channel.pk)
                await self.limiter.atier_seed(sent)
                admitted = await self.limiter.atier_admit([r.phone for r in rows])
        except Exception:  # noqa: BLE001 - limiter unavailable: send nothing now
            await self.db(recipients_release, ids=[r.id for r in rows], owner=self.owner)
            await asyncio.sleep(1.0)
            return []
        admitted = admitted or [False] * len(rows)
        refused = [r.id for r, ok in zip(rows, admitted, strict=True) if not ok]
        if refused:
            await self.db(recipients_release, ids=refused, owner=self.owner)
            await self.db(control.campaign_wait, campaign_id=self.campaign_id, reason="tier", seconds=600)
            self.stop_reason = "tier"
        return [r for r, ok in zip(rows, admitted, strict=True) if ok]

    # --- one sub-batch -------------------------------------------------------------------------

    def _outbound(self, row: Claimed):
        from inbox.providers.base import Outbound

        content = self.contents.get(row.variant_id or 0) or next(iter(self.contents.values()))
        ref = callback_ref(self.campaign_id, row.id)
        to = row.wa_id if self.channel.kind in ("whatsapp_cloud", "sandbox") and row.wa_id else row.phone
        mapping = content.mapping or {}
        values = {**row.variables, **self.links.values(row.variant_id, row.id)}
        if content.kind == "template":
            components = template_components(content.template, mapping, values)
            item = Outbound(
                ref=ref,
                to=to,
                template={
                    "name": content.template.name,
                    "language": content.template.language,
                    "components": components,
                },
            )
            body = template_body_text(content.template, mapping, values)
            payload = {
                "template": {"name": content.template.name, "language": content.template.language},
                "campaign": self.campaign_id,
            }
            return item, "template", body, payload
        text = self.links.text(render_text(content.body, mapping, values), row.variant_id, row.id)
        if content.kind == "media":
            media = {**(content.media or {}), "caption": text}
            return Outbound(ref=ref, to=to, media=media), str(media["kind"]), text, {"campaign": self.campaign_id}
        return (
            Outbound(ref=ref, to=to, text=text, callback_url=self.sms_callback),
            "text",
            text,
            {"campaign": self.campaign_id},
        )

    async def _step(self, rows: list[Claimed], *, conform: bool = False) -> None:
        state = await self.state()
        if not self._running(state):
            await self.db(recipients_release, ids=[r.id for r in rows], owner=self.owner)
            return
        prepared = [self._outbound(row) for row in rows]
        bodies = self.provider.batch_prepare([p[0] for p in prepared])
        if conform:
            # The limiter's second look: a sub-batch right behind a late one waits the
            # difference, so the sends really leaving never pass the number's rate.
            try:
                wait = await self.limiter.aconform(len(rows))
            except Exception as exc:  # noqa: BLE001 - Redis down: nothing leaves, the rows go back
                logger.warning("limiter unavailable for campaign %s: %s", self.campaign_id, exc)
                await self.db(recipients_release, ids=[r.id for r in rows], owner=self.owner)
                await asyncio.sleep(1.0)
                return
            if wait > 0:
                await asyncio.sleep(wait)
        # Marked as leaving, committed, and only then on the wire (nothing awaited between the
        # two): a row whose worker dies before its mark provably never left, and goes back to
        # the queue when its lease runs out. A row no longer ours is not sent.
        marked = await self.db(recipients_sending, ids=[r.id for r in rows], owner=self.owner, on="mark")
        if len(marked) < len(rows):
            keep = [i for i, row in enumerate(rows) if row.id in marked]
            rows, prepared = [rows[i] for i in keep], [prepared[i] for i in keep]
            bodies = [bodies[i] for i in keep] if bodies is not None else None
            if not rows:
                return
        results = await self.provider.send_batch([p[0] for p in prepared], prepared=bodies)
        await self._record(rows, prepared, results)

    async def _record(self, rows, prepared, results) -> None:
        from campaigns.dispatch import control

        result = oc.BatchResult()
        pause: tuple[str, str] | None = None
        slowed = False
        now = timezone.now()
        for row, (item, kind, body, payload), outcome in zip(rows, prepared, results, strict=True):
            if outcome.error is None and outcome.result is not None:
                result.sent.append(
                    oc.SentRow(
                        recipient_id=row.id,
                        contact_id=row.contact_id,
                        variant_id=row.variant_id,
                        provider_message_id=outcome.result.provider_message_id,
                        message_status="sent" if outcome.result.status == "sent" else "queued",
                        kind=kind,
                        body=body,
                        payload=payload,
                        segments=outcome.segments,
                        to=item.to,
                    )
                )
                continue
            error = outcome.error
            verdict = oc.classify(error)
            detail = (error.code[:20], error.title[:255], error.details)
            if verdict == oc.PAUSE:
                pause = pause or (str(oc.PAUSE_CODES[error.code]), f"{error.code}: {error.title}"[:500])
                result.released.append(row.id)
            elif verdict == oc.RETRY:
                if error.code == "130429" and not slowed:
                    slowed = True
                    try:
                        await self.limiter.aslow_down()
                    except Exception as exc:  # noqa: BLE001 - the retry backoff still applies
                        logger.warning("could not slow the limiter down: %s", exc)
                if row.attempts >= oc.MAX_ATTEMPTS:
                    result.gave_up.append((row.id, *detail))
                else:
                    result.retry.append((row.id, oc.next_attempt_at(row.attempts, now=now), *detail))
            elif verdict == oc.UNCERTAIN:
                result.uncertain.append((row.id, *detail))
            else:
                result.failed.append((row.id, *detail))
        if pause is not None:
            # Paused before the rows go back to the queue, so no worker claims them again.
            self.stop_reason = f"paused: {pause[0]}"
            await self.db(control.campaign_pause, campaign=self.campaign_id, reason=pause[0], detail=pause[1])
            self._state = None
        await self._writes.put(result)
        self.sent += len(result.sent)
        if pause is None:
            self._quality[0] += len(result.sent)
            self._quality[1] += len(result.failed) + len(result.gave_up)
            if self.clock() - self._quality_at >= QUALITY_EVERY:
                await self._quality_flush()

    async def _quality_flush(self) -> None:
        """Hand the outcomes counted since the last look to the quality guard (shared by all
        workers in Redis), a few times per second rather than per sub-batch."""
        from campaigns.dispatch import control

        sent, failed = self._quality
        self._quality = [0, 0]
        self._quality_at = self.clock()
        if not (sent or failed):
            return
        tripped = await self.db(
            control.quality_guard_record, campaign_id=self.campaign_id, sent=sent, failed=failed, on="state"
        )
        if tripped:
            self.stop_reason = "paused: quality_guard"
            self._state = None

    async def _writer(self) -> None:
        """One write-back at a time, merging what several sub-batches produced meanwhile: one
        transaction (and one commit flush) for hundreds of rows instead of one per sub-batch."""
        loop = asyncio.get_running_loop()
        done = False
        while not done:
            item = await self._writes.get()
            if item is None:
                return
            merged = [item]
            rows = oc.size(item)
            deadline = loop.time() + WRITE_LINGER_S
            while rows < WRITE_ROWS and len(merged) < MERGE_MAX:
                if self._writes.empty():
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        more = await asyncio.wait_for(self._writes.get(), left)
                    except TimeoutError:
                        break
                else:
                    more = self._writes.get_nowait()
                if more is None:
                    done = True
                    break
                merged.append(more)
                rows += oc.size(more)
            await self._write(oc.merge(merged))

    async def _write(self, result: oc.BatchResult) -> None:
        """The write-back, retried a few times; if it never lands, the rows stay claimed and the
        status webhooks (by callback data) or the reconciler settle them: never resent."""
        from campaigns.realtime import progress_publish
        from inbox.services import sandbox_statuses_schedule

        def write():
            oc.batch_write(
                campaign_id=self.campaign_id,
                campaign_name=self.campaign.name,
                channel_id=self.channel.pk,
                result=result,
            )
            if self.channel.kind == "sandbox" and result.sent:
                sandbox_statuses_schedule(
                    channel=self.channel,
                    sent=[
                        (s.provider_message_id, s.to.lstrip("+"), callback_ref(self.campaign_id, s.recipient_id))
                        for s in result.sent
                    ],
                )
            progress_publish(self.campaign_id)

        for attempt in range(4):
            try:
                await self.db(write, on="write")
                return
            except Exception:  # noqa: BLE001 - retried, then left to the reconciler
                logger.exception("campaign %s write-back failed (attempt %d)", self.campaign_id, attempt + 1)
                await asyncio.sleep(0.5 * (attempt + 1))

    # --- a phone's pace (WhatsApp Web) -----------------------------------------------------------

    async def _run_paced(self) -> str:
        from campaigns.dispatch import control

        rng = random.Random()
        while True:
            state = await self.state(fresh=True)
            if not self._running(state):
                return self.stop_reason or f"state {state.state}"
            if state.session_state != "open":
                await self.db(
                    control.campaign_pause,
                    campaign=self.campaign_id,
                    reason=PauseReason.DISCONNECTED,
                    detail="The WhatsApp Web session disconnected; scan the QR code and resume the campaign.",
                )
                return "paused: disconnected"
            if await self.db(control.campaign_window_check, campaign_id=self.campaign_id):
                return "window"
            budget = await self.db(control.daily_cap_left, campaign_id=self.campaign_id)
            if budget <= 0:
                return "daily cap"
            low, high = await self.db(control.pace_range, channel_id=self.channel.pk)
            await asyncio.sleep(rng.uniform(low, high))
            rows = await self._claim(1)
            if rows is None:
                return self.stop_reason
            if not rows:
                verdict = await self.db(control.campaign_progress_check, campaign_id=self.campaign_id)
                if verdict == "wait":
                    await asyncio.sleep(1.0)
                    continue
                return verdict
            self.provider.channel.session_state = state.session_state
            await self._step(rows)
            if self.stop_reason:
                return self.stop_reason


def _heartbeat(schema: str, campaign_id: int, owner: str, *, alive: bool = True) -> None:
    """Runs register themselves so beat knows a running campaign still has workers."""
    from core.redis import redis_client

    key = f"camp:runs:{schema}:{campaign_id}"
    try:
        client = redis_client()
        if alive:
            client.zadd(key, {owner: time.time() + HEARTBEAT_TTL})
            client.expire(key, HEARTBEAT_TTL * 4)
        else:
            client.zrem(key, owner)
    except Exception as exc:  # noqa: BLE001 - beat re-queues runs when it cannot see them
        logger.info("campaign heartbeat not written: %s", exc)


def live_runs(schema: str, campaign_id: int) -> int:
    from core.redis import redis_client

    key = f"camp:runs:{schema}:{campaign_id}"
    try:
        client = redis_client()
        client.zremrangebyscore(key, "-inf", time.time())
        return int(client.zcard(key))
    except Exception:  # noqa: BLE001
        return 0


def campaign_run_many(*, schema: str, campaign_ids: list[int]) -> list[str]:
    """Several campaigns' runs in one process and one loop (a worker sending for several
    numbers at once shares its pooled client)."""

    async def main():
        return await asyncio.gather(*(CampaignRun(schema=schema, campaign_id=c).run() for c in campaign_ids))

    try:
        import uvloop

        return list(uvloop.run(main()))
    except ImportError:  # pragma: no cover
        return list(asyncio.run(main()))


def campaign_run(*, schema: str, campaign_id: int) -> str:
    """Run the campaign in this process until it stops (state change, window, done)."""
    try:
        import uvloop

        return uvloop.run(CampaignRun(schema=schema, campaign_id=campaign_id).run())
    except ImportError:  # pragma: no cover
        return asyncio.run(CampaignRun(schema=schema, campaign_id=campaign_id).run())
