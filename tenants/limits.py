"""Plan limits: what a company may use, what it uses, and the check the services make.

A limit is the company's override (``Company.limit_*``, set by staff) or else its plan's
(``Plan.max_*``); empty means no limit. Usage is counted in the database, one aggregate per
limit, never row by row:

- members: memberships plus pending invitations (counted here, in the public schema);
- channels, contacts, messages this month, AI tokens this month: counted inside the company's
  schema by the app that owns the rows, which registers its counter in ``AppConfig.ready()``
  (``register_counter``): this app sits below them and imports none of them.

"This month" is the calendar month in the company's time zone (``month_start``).

Services call ``limit_check`` before they add something; it raises ``LimitReached`` (a
``ValidationError``, so pages and the API answer it as bad input) with a translated message
that names the limit and says how to raise it. ``room`` gives how many more fit, for the bulk
paths that cut (imports, campaign batches).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django_tenants.utils import schema_context

from core.tenancy import current_schema

MEMBERS = "members"
CHANNELS = "channels"
CONTACTS = "contacts"
MESSAGES = "messages_month"
AI_TOKENS = "ai_tokens_month"
LIMITS = (MEMBERS, CHANNELS, CONTACTS, MESSAGES, AI_TOKENS)

LABELS = {
    MEMBERS: gettext_lazy("Members"),
    CHANNELS: gettext_lazy("Channels"),
    CONTACTS: gettext_lazy("Contacts"),
    MESSAGES: gettext_lazy("Messages sent this month"),
    AI_TOKENS: gettext_lazy("AI tokens this month"),
}

ERR_LIMIT = {
    MEMBERS: gettext_noop(
        "Your plan (%(plan)s) allows %(limit)s members, invitations included, and the company has %(used)s. "
        "Remove a member or revoke an invitation, or ask us to raise the limit (upgrade the plan)."
    ),
    CHANNELS: gettext_noop(
        "Your plan (%(plan)s) allows %(limit)s connected channels and the company has %(used)s. "
        "Disconnect a channel, or ask us to raise the limit (upgrade the plan)."
    ),
    CONTACTS: gettext_noop(
        "Your plan (%(plan)s) allows %(limit)s contacts and the company has %(used)s. "
        "Delete contacts you no longer need, or ask us to raise the limit (upgrade the plan)."
    ),
    MESSAGES: gettext_noop(
        "Your plan (%(plan)s) allows %(limit)s messages sent per month and %(used)s were sent this month. "
        "Sending resumes next month, or ask us to raise the limit (upgrade the plan)."
    ),
    AI_TOKENS: gettext_noop(
        "Your plan (%(plan)s) allows %(limit)s AI tokens per month and %(used)s were used this month. "
        "AI resumes next month, or ask us to raise the limit (upgrade the plan)."
    ),
}

# limit -> counter: given the start of the company's month, the SQL (and its parameters) of one
# scalar, run inside the company's schema. SQL rather than a number, so the dashboard and the
# admin read every limit in one statement (``usage_all``).
Counter = Callable[[dt.datetime], tuple[str, list]]
_counters: dict[str, Counter] = {}


def register_counter(limit: str, counter: Counter) -> None:
    """An app that owns the rows of a limit counts them (``counter(month_start)`` returns the
    SQL of one number, e.g. ``count_query(queryset)``). Called from ``AppConfig.ready()``."""
    if limit not in LIMITS or limit == MEMBERS:
        raise ValueError(f"unknown limit {limit!r}")
    _counters[limit] = counter


def count_query(queryset) -> tuple[str, list]:
    """``SELECT count(*)`` of a queryset, as SQL and parameters."""
    from django.db.models import IntegerField, Value

    # A constant column: the planner can answer from an index alone.
    one = queryset.order_by().annotate(_one=Value(1, output_field=IntegerField())).values("_one")
    sql, params = one.query.sql_with_params()
    return f"SELECT count(*) FROM ({sql}) AS counted", list(params)


def sum_query(queryset, *columns: str) -> tuple[str, list]:
    """``SELECT coalesce(sum(a + b), 0)`` of some integer columns of a queryset."""
    sql, params = queryset.order_by().values_list(*columns).query.sql_with_params()
    total = " + ".join(f'"{c}"' for c in columns)
    return f"SELECT coalesce(sum({total}), 0) FROM ({sql}) AS summed", list(params)


def _members_query(company) -> tuple[str, list]:
    from tenants.models import Invitation, Membership

    members, m_params = count_query(Membership.objects.filter(company=company))
    pending, p_params = count_query(
        Invitation.objects.filter(
            company=company, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
    )
    return f"SELECT ({members}) + ({pending})", m_params + p_params


class LimitReached(ValidationError):
    def __init__(self, message: str, *, limit: str):
        super().__init__(message, code="limit_reached")
        self.limit = limit


@dataclass(frozen=True)
class Usage:
    limit_name: str
    used: int
    limit: int | None  # None: no limit

    @property
    def label(self) -> str:
        return str(LABELS[self.limit_name])

    @property
    def room(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0 if self.limit is None else 100
        return min(100, round(100 * self.used / self.limit))

    @property
    def level(self) -> str:
        """ok, warning (80 %), full."""
        if self.limit is None:
            return "ok"
        if self.used >= self.limit:
            return "full"
        return "warning" if self.percent >= 80 else "ok"


def limit_of(company, limit: str) -> int | None:
    """The company's limit: the staff override, else the plan's (None: no limit)."""
    override = getattr(company, f"limit_{limit}")
    if override is not None:
        return int(override)
    value = getattr(company.plan, f"max_{limit}")
    return None if value is None else int(value)


def month_start(company, now: dt.datetime | None = None) -> dt.datetime:
    """Midnight of the first day of the month in the company's time zone (aware)."""
    tz = zoneinfo.ZoneInfo(company.time_zone or "America/Sao_Paulo")
    local = timezone.localtime(now or timezone.now(), tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _queries(company, names, now: dt.datetime | None = None) -> list[tuple[str, list]]:
    start = month_start(company, now)
    out = []
    for name in names:
        if name == MEMBERS:
            out.append(_members_query(company))
        elif name in _counters:
            out.append(_counters[name](start))
        else:
            out.append(("SELECT 0", []))
    return out


def _counts(company, names, now: dt.datetime | None = None) -> list[int]:
    """The usage of ``names``, in one statement inside the company's schema (the public tables
    are on its search path)."""
    from django.db import connection

    queries = _queries(company, names, now)
    sql = "SELECT " + ", ".join(f"({q})" for q, _ in queries)
    params = [p for _, ps in queries for p in ps]

    def run() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [int(v or 0) for v in cursor.fetchone()]

    if current_schema() == company.schema_name:
        return run()
    with schema_context(company.schema_name):
        return run()


def _count(company, limit: str, now: dt.datetime | None = None) -> int:
    return _counts(company, [limit], now)[0]


def usage_of(company, limit: str, *, now: dt.datetime | None = None) -> Usage:
    return Usage(limit_name=limit, used=_count(company, limit, now), limit=limit_of(company, limit))


def usage_all(company, *, now: dt.datetime | None = None) -> list[Usage]:
    """Every limit with its usage (the dashboard and the admin's company page)."""
    used = _counts(company, LIMITS, now)
    return [Usage(limit_name=n, used=u, limit=limit_of(company, n)) for n, u in zip(LIMITS, used, strict=True)]


def room(company, limit: str) -> int | None:
    """How many more fit under the limit (None: no limit). Counts only when there is a limit."""
    value = limit_of(company, limit)
    if value is None:
        return None
    return max(0, value - _count(company, limit))


def limit_message(company, usage: Usage) -> str:
    return _(ERR_LIMIT[usage.limit_name]) % {
        "plan": company.plan.name,
        "limit": number_format(usage.limit or 0, force_grouping=True),
        "used": number_format(usage.used, force_grouping=True),
    }


def limit_check(company, limit: str, *, adding: int = 1) -> None:
    """Raise ``LimitReached`` unless ``adding`` more fit under the company's limit."""
    value = limit_of(company, limit)
    if value is None:
        return
    used = _count(company, limit)
    if used + adding > value:
        raise LimitReached(limit_message(company, Usage(limit_name=limit, used=used, limit=value)), limit=limit)
