"""Hypothesis strategies for untrusted input, shared by the property-based tests and the long
fuzz of ``make bench`` (``benchmarks/bench_webhook_fuzz.py``).

Webhook bodies come near the documented shapes on purpose: a random byte string is refused
at the first step, while a Meta envelope with one level replaced by something else reaches
every branch of the parser and of the processing after it.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# --- profiles ---------------------------------------------------------------------------------
# ``ci`` (the default, see conftest.py): derandomized, so a run is the same run every time (a
# failure found once is found again), no example database, no deadline (two shared cores).
# ``fuzz`` (HYPOTHESIS_PROFILE=fuzz, ``make bench ONLY=fuzz``): random and long, to look for new
# failures; each test's own count (``examples``) is multiplied by FUZZ_FACTOR (10 unless the
# environment's HYPOTHESIS_FUZZ_FACTOR says otherwise).
FUZZ_FACTOR = int(os.environ.get("HYPOTHESIS_FUZZ_FACTOR") or 10)
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    database=None,
    deadline=None,
    max_examples=2000,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(count: int):
    """``@settings(max_examples=count)`` in ``make test``, ``FUZZ_FACTOR`` times more under the
    ``fuzz`` profile (a test's own ``max_examples`` would otherwise win over the profile's)."""
    long = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
    return settings(max_examples=count * FUZZ_FACTOR if long else count)


# --- JSON -------------------------------------------------------------------------------------

# Text PostgreSQL and a URL can carry, and text they cannot (NUL, lone surrogates).
texts = st.text(max_size=40)
odd_texts = st.sampled_from(["", "\x00", "a\x00b", "\ud800", "\udfff", "é" * 3, "9" * 5000, " ", "\n", "🙂"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    odd_texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


# How often ``maybe`` keeps the documented shape at a level: an envelope has about 15 levels down
# to a message's fields, so at 9 in 10 about one body in five is a well-formed message or status
# (stored and applied, which reaches the processing past the parser).
_KEEP = (True,) * 9 + (False,)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """``strategy`` most of the time, any JSON value sometimes (the shape broken at this level).

    Not ``st.one_of(strategy, strategy, strategy, json_values)``: Hypothesis drops the repeated
    branches, so every level broke one time in two and no fuzzed body ever held a message."""
    return st.sampled_from(_KEEP).flatmap(lambda keep: strategy if keep else json_values)


# --- Meta webhooks ----------------------------------------------------------------------------

PHONE_NUMBER_ID = "1065550001"
wa_ids = st.builds(
    lambda ddd, n: f"55{ddd}9{n:08d}", st.sampled_from([11, 21, 31, 41, 51, 61, 71, 81, 91]), st.integers(0, 10**8 - 1)
)
wamids = st.builds(lambda n: f"wamid.FUZZ{n:012d}", st.integers(0, 10**12 - 1))
timestamps = st.one_of(st.integers(0, 2**40).map(str), st.integers(-(2**40), 2**70), texts)
message_types = st.sampled_from(
    [
        "text",
        "image",
        "audio",
        "voice",
        "video",
        "document",
        "sticker",
        "location",
        "reaction",
        "button",
        "interactive",
        "order",
        "unknown",
    ]
)


@st.composite
def meta_messages(draw):
    mtype = draw(maybe(message_types))
    message = {
        "from": draw(maybe(wa_ids)),
        "id": draw(maybe(wamids)),
        "timestamp": draw(maybe(timestamps)),
        "type": mtype,
    }
    part = draw(
        maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "body": maybe(texts),
                    "id": maybe(texts),
                    "mime_type": maybe(st.sampled_from(["image/jpeg", "audio/ogg", "application/pdf"])),
                    "caption": maybe(texts),
                    "filename": maybe(texts),
                    "emoji": maybe(st.sampled_from(["👍", "❤️", ""])),
                    "message_id": maybe(wamids),
                    "latitude": maybe(st.floats(-90, 90)),
                    "longitude": maybe(st.floats(-180, 180)),
                    "name": maybe(texts),
                    "button_reply": maybe(st.fixed_dictionaries({"id": texts, "title": maybe(texts)})),
                    "list_reply": maybe(st.fixed_dictionaries({"id": texts, "title": maybe(texts)})),
                    "text": maybe(texts),
                },
            )
        )
    )
    if isinstance(mtype, str):
        message[mtype] = part
    if draw(st.booleans()):
        message["context"] = draw(maybe(st.fixed_dictionaries({"id": maybe(wamids)})))
    return message


meta_statuses = st.fixed_dictionaries(
    {
        "id": maybe(wamids),
        "status": maybe(st.sampled_from(["sent", "delivered", "read", "failed", "deleted", ""])),
        "timestamp": maybe(timestamps),
        "recipient_id": maybe(wa_ids),
    },
    optional={
        "errors": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {"code": maybe(st.integers()), "title": maybe(texts)},
                        optional={"error_data": maybe(st.fixed_dictionaries({"details": maybe(texts)}))},
                    )
                ),
                max_size=2,
            )
        ),
        "biz_opaque_callback_data": maybe(texts),
    },
)

meta_values = st.fixed_dictionaries(
    {"messaging_product": maybe(st.just("whatsapp"))},
    optional={
        "metadata": maybe(
            st.fixed_dictionaries(
                {"phone_number_id": maybe(st.sampled_from([PHONE_NUMBER_ID, "999"])), "display_phone_number": texts}
            )
        ),
        "contacts": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {"wa_id": maybe(wa_ids), "profile": maybe(st.fixed_dictionaries({"name": maybe(texts)}))}
                    )
                ),
                max_size=2,
            )
        ),
        "messages": maybe(st.lists(maybe(meta_messages()), max_size=3)),
        "statuses": maybe(st.lists(maybe(meta_statuses), max_size=3)),
        "errors": maybe(st.lists(json_values, max_size=2)),
    },
)

meta_changes = st.fixed_dictionaries(
    {"field": maybe(st.sampled_from(["messages", "account_update"])), "value": maybe(meta_values)}
)
meta_entries = st.fixed_dictionaries({"id": maybe(texts), "changes": maybe(st.lists(maybe(meta_changes), max_size=3))})
meta_envelopes = st.fixed_dictionaries(
    {
        "object": maybe(st.just("whatsapp_business_account")),
        "entry": maybe(st.lists(maybe(meta_entries), max_size=3)),
    }
)


def _dumps(value) -> bytes:
    """JSON as a sender might write it: NaN and Infinity allowed, lone surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


def _deep(levels: int, opener: str) -> bytes:
    """A Meta envelope whose ``value`` nests ``levels`` deep (arrays, or objects)."""
    closer = {"[": "]", '{"a":': "}"}[opener]
    head = b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": '
    return head + (opener * levels + "1" + closer * levels).encode() + b"}]}]}"


special_bodies = st.sampled_from(
    [
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b'{"a": "\\u0000"}',
        b'{"a": "\\ud800"}',
        b'{"a": ' + b"1" * 5000 + b"}",
        b"[" * 20000 + b"]" * 20000,
        b"{" * 100,
        b"",
        b"null",
        b"S\xe3o Paulo",
        b"\xff\xfe\x00\x00",
        b'{"object": "whatsapp_business_account", "entry": [{"changes": 1.5}]}',
    ]
)

# Bodies of signed Meta deliveries: mostly near the documented shape (three in seven).
_META_BODY_KINDS = {
    "envelope": meta_envelopes.map(_dumps),
    "json": json_values.map(_dumps),
    "special": special_bodies,
    "deep": st.builds(_deep, st.integers(60, 3000), st.sampled_from(["[", '{"a":'])),
    "binary": st.binary(max_size=64),
}
meta_bodies = st.sampled_from(("envelope", "envelope", "envelope", "json", "special", "deep", "binary")).flatmap(
    _META_BODY_KINDS.__getitem__
)

# --- SMS (Twilio-compatible form posts) -------------------------------------------------------

form_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
sms_forms = st.fixed_dictionaries(
    {},
    optional={
        "MessageSid": st.one_of(st.builds(lambda n: f"SM{n:032x}", st.integers(0, 2**128 - 1)), form_texts),
        "From": st.one_of(wa_ids.map(lambda d: "+" + d), form_texts),
        "To": form_texts,
        "Body": form_texts,
        "MessageStatus": st.sampled_from(["received", "sent", "delivered", "undelivered", "failed", "queued", ""]),
        "ErrorCode": form_texts,
        "MediaUrl0": form_texts,
        "MediaContentType0": form_texts,
    },
)
