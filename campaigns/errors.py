"""Why a message failed, in plain words: Meta's Cloud API codes, the SMS provider's (Twilio's
codes) and our own, for the recipient table, the CSV export and the API. The provider's own
title and details are kept next to these words (``Recipient.error_title/error_details``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

FAILURE_REASONS: dict[str, str] = {
    # Meta Cloud API
    "130429": gettext_noop("WhatsApp's sending speed limit for this number was reached; it was retried more slowly."),
    "131056": gettext_noop("Too many messages to this same person in a short time."),
    "131057": gettext_noop("The WhatsApp Business account is in maintenance."),
    "131000": gettext_noop("WhatsApp had an unknown error."),
    "131016": gettext_noop("WhatsApp was temporarily unavailable."),
    "131026": gettext_noop(
        "WhatsApp could not deliver it: the number may not have WhatsApp, or the person has not accepted "
        "WhatsApp's latest terms, or uses an old app version."
    ),
    "131047": gettext_noop(
        "More than 24 hours have passed since the person's last message: only an approved template can be sent."
    ),
    "131049": gettext_noop(
        "WhatsApp chose not to deliver it, to limit how many marketing messages a person gets. Try again later."
    ),
    "131050": gettext_noop("The person stopped receiving marketing messages from your business on WhatsApp."),
    "131051": gettext_noop("This type of message is not supported."),
    "131052": gettext_noop("The media could not be downloaded."),
    "131053": gettext_noop("The media could not be uploaded."),
    "131008": gettext_noop("A required part of the message was missing."),
    "131009": gettext_noop("A value in the message was not valid."),
    "131021": gettext_noop("The recipient is the sending number itself."),
    "131031": gettext_noop("The WhatsApp Business account is locked."),
    "131042": gettext_noop("There is a payment problem in the WhatsApp Business account."),
    "131045": gettext_noop("The sending number is not registered correctly at WhatsApp."),
    "131048": gettext_noop("WhatsApp limited this number because too many people marked its messages as spam."),
    "132000": gettext_noop("The number of variables does not match the approved template."),
    "132001": gettext_noop("The template does not exist in this language (or is not approved yet)."),
    "132005": gettext_noop("The text with its variables filled is too long for the template."),
    "132007": gettext_noop("A variable's value breaks WhatsApp's formatting rules."),
    "132012": gettext_noop("A variable does not have the format the template expects (e.g. an image header)."),
    "132015": gettext_noop("The template is paused by WhatsApp for low quality."),
    "132016": gettext_noop("The template was disabled by WhatsApp for low quality."),
    "133010": gettext_noop("The sending number is not registered at WhatsApp."),
    "368": gettext_noop("The WhatsApp account is temporarily blocked for policy violations."),
    "470": gettext_noop("More than 24 hours have passed since the person's last message."),
    "190": gettext_noop("The number's access token is invalid or expired."),
    "100": gettext_noop("WhatsApp did not accept a value of the message."),
    # SMS (Twilio-compatible)
    "21211": gettext_noop("The phone number is not valid for SMS."),
    "21408": gettext_noop("SMS to this country is not enabled in the provider account."),
    "21610": gettext_noop("The person replied STOP to this number and no longer receives SMS."),
    "21612": gettext_noop("The provider cannot send SMS to this number."),
    "21614": gettext_noop("The number is not a mobile number."),
    "30003": gettext_noop("The phone was unreachable (off or out of coverage)."),
    "30004": gettext_noop("The person blocked messages from this number."),
    "30005": gettext_noop("The number does not exist or is no longer active."),
    "30006": gettext_noop("The number is a landline or cannot receive SMS."),
    "30007": gettext_noop("The carrier filtered the message (it looked like spam)."),
    "30008": gettext_noop("The carrier reported an unknown error."),
    # ours
    "network": gettext_noop("The provider could not be reached."),
    "timeout": gettext_noop("The provider did not answer in time."),
    "unsupported": gettext_noop("This channel cannot send this kind of message."),
    "disconnected": gettext_noop("The WhatsApp Web session was disconnected."),
}
UNKNOWN_FAILURE = gettext_noop("The provider refused the message (code %(code)s).")


def failure_reason(code: str, title: str = "") -> str:
    """A failure code in plain, translated words; an unknown code shows the provider's title."""
    code = str(code or "").strip()
    known = FAILURE_REASONS.get(code)
    if known:
        return _(known)
    if title:
        return title
    return _(UNKNOWN_FAILURE) % {"code": code or "?"}


def recipient_reason(recipient) -> str:
    """Why a recipient failed, was skipped or has no known outcome, in plain words."""
    from campaigns.models import RecipientState, SkipReason

    if recipient.state == RecipientState.FAILED:
        return failure_reason(recipient.error_code, recipient.error_title)
    if recipient.reason:
        try:
            return str(SkipReason(recipient.reason).label)
        except ValueError:
            return recipient.reason
    return ""
