"""Message templates against the Graph stub: sync (paged), submit with Meta's examples, edit,
delete (one language or all), Meta's refusals in plain words, and both template webhooks
through the signed intake and the inbox's hook."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from campaigns import message_templates as mt
from campaigns.models import MessageTemplate, TemplateOrigin, TemplateQuality, TemplateStatus
from campaigns.template_rules import with_examples
from campaigns.tests.conftest import WABA
from inbox.providers.meta import meta_signature
from tests.stubs.graph_templates import template_error


def _draft(channel, name="promo_junho", *, fmt="POSITIONAL", components=None, language="pt_BR"):
    components = components or with_examples(
        [
            {"type": "HEADER", "format": "TEXT", "text": "Ofertas de junho"},
            {"type": "BODY", "text": "Olá {{1}}, temos {{2}} de desconto na sua loja favorita hoje."},
            {"type": "FOOTER", "text": "Responda SAIR para não receber mais"},
            {
                "type": "BUTTONS",
                "buttons": [{"type": "URL", "text": "Ver ofertas", "url": "https://loja.com.br/{{1}}"}],
            },
        ],
        fmt,
        {"1": "Ana", "2": "20%", "button.3": "", "button.0": "junho"},
    )
    return mt.template_save(
        origin=TemplateOrigin.META,
        name=name,
        language=language,
        category="MARKETING",
        parameter_format=fmt,
        components=components,
        variables={"1": {"source": "contact.first_name", "fallback": "cliente"}},
        channel=channel,
    )


def _requests(graph, method, fragment):
    return [r for r in graph.requests if r.method == method and fragment in r.path]


# --- sync ---------------------------------------------------------------------------------------


def test_sync_reads_every_page_and_keeps_our_variable_mapping(cloud_channel, graph):
    # given 23 templates at Meta, pages of 10, and one we already had with a mapping
    graph.max_page = 10
    for i in range(23):
        graph.add_template(WABA, name=f"aviso_{i:02d}", quality_score={"score": "GREEN"})
    known = graph.templates[WABA][0]
    MessageTemplate.objects.create(
        origin=TemplateOrigin.META,
        waba_id=WABA,
        name="aviso_00",
        language="pt_BR",
        status=TemplateStatus.PENDING,
        variables={"1": {"source": "contact.name", "fallback": "cliente"}},
    )
    # when we sync
    result = mt.templates_sync(channel=cloud_channel)
    # then every page was read, following paging.cursors.after
    pages = _requests(graph, "GET", "/message_templates")
    assert len(pages) == 3
    assert [p.query.get("after", [""])[0] != "" for p in pages] == [False, True, True]
    assert result.created == 22 and result.updated == 1
    assert MessageTemplate.objects.filter(waba_id=WABA).count() == 23
    mine = MessageTemplate.objects.get(name="aviso_00")
    assert mine.meta_template_id == known["id"]
    assert mine.status == TemplateStatus.APPROVED and mine.quality == TemplateQuality.GREEN
    assert mine.variables == {"1": {"source": "contact.name", "fallback": "cliente"}}
    assert mine.synced_at is not None and mine.channel == cloud_channel


def test_sync_forgets_templates_meta_no_longer_has_but_keeps_those_campaigns_used(cloud_channel, graph):
    from campaigns.models import Campaign, CampaignVariant

    graph.add_template(WABA, name="fica")
    graph.add_template(WABA, name="sai")
    graph.add_template(WABA, name="usado")
    mt.templates_sync(channel=cloud_channel)
    used = MessageTemplate.objects.get(name="usado")
    campaign = Campaign.objects.create(name="Junho", channel=cloud_channel)
    CampaignVariant.objects.create(campaign=campaign, template=used)
    graph.templates[WABA] = [t for t in graph.templates[WABA] if t["name"] == "fica"]

    result = mt.templates_sync(channel=cloud_channel)

    assert result.removed == 2
    assert not MessageTemplate.objects.filter(name="sai").exists()
    used.refresh_from_db()
    assert used.status == TemplateStatus.DELETED  # the campaign still shows what it sent


def test_sync_refuses_a_channel_that_is_not_cloud(sandbox_channel):
    with pytest.raises(ValidationError) as caught:
        mt.templates_sync(channel=sandbox_channel)
    assert caught.value.messages == [mt.ERR_NOT_CLOUD]


def test_sync_with_an_expired_token_says_so_in_plain_words(cloud_channel, graph):
    graph.token = "another-token"
    try:
        with pytest.raises(ValidationError) as caught:
            mt.templates_sync(channel=cloud_channel)
    finally:
        graph.token = "EAAG-test-token"
    assert caught.value.messages == [mt.META_CODE_MESSAGES["190"]]


# --- submit -------------------------------------------------------------------------------------


def test_submit_sends_positional_examples_and_stores_metas_answer(cloud_channel, graph):
    template = _draft(cloud_channel)
    assert template.status == TemplateStatus.DRAFT

    template = mt.template_submit(template=template)

    [request] = _requests(graph, "POST", f"/{WABA}/message_templates")
    body = request.json()
    assert body["name"] == "promo_junho" and body["language"] == "pt_BR" and body["category"] == "MARKETING"
    assert body["parameter_format"] == "POSITIONAL"
    parts = {c["type"]: c for c in body["components"]}
    assert parts["BODY"]["example"] == {"body_text": [["Ana", "20%"]]}
    assert parts["HEADER"]["format"] == "TEXT"
    assert parts["BUTTONS"]["buttons"][0]["example"] == ["junho"]
    assert template.status == TemplateStatus.PENDING
    assert template.meta_template_id == graph.templates[WABA][0]["id"]
    assert template.submitted_at is not None


def test_submit_named_variables_sends_body_text_named_params(cloud_channel, graph):
    components = with_examples(
        [{"type": "BODY", "text": "Oi {{first_name}}, seu pedido {{order_id}} saiu para entrega hoje."}],
        "NAMED",
        {"first_name": "Ana", "order_id": "8812"},
    )
    template = mt.template_submit(template=_draft(cloud_channel, "entrega", fmt="NAMED", components=components))

    body = _requests(graph, "POST", "/message_templates")[0].json()
    assert body["parameter_format"] == "NAMED"
    assert body["components"][0]["example"] == {
        "body_text_named_params": [
            {"param_name": "first_name", "example": "Ana"},
            {"param_name": "order_id", "example": "8812"},
        ]
    }
    assert template.status == TemplateStatus.PENDING


def test_submit_with_a_media_header_uploads_the_sample_and_sends_its_handle(cloud_channel, graph):
    components = with_examples(
        [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Olá {{1}}, chegou a coleção nova de inverno na loja."},
        ],
        "POSITIONAL",
        {"1": "Ana"},
    )
    template = _draft(cloud_channel, "colecao", components=components)

    mt.template_submit(template=template, sample=(b"\x89PNG fake", "image/png"))

    [upload] = [r for r in graph.requests if r.path.endswith("/uploads")]
    assert upload.query["file_type"] == ["image/png"] and upload.query["file_length"] == ["9"]
    assert graph.uploads and list(graph.uploads.values()) == [b"\x89PNG fake"]
    header = _requests(graph, "POST", "/message_templates")[0].json()["components"][0]
    assert header["example"]["header_handle"][0].startswith("4::")


@pytest.mark.parametrize(
    ("subcode", "words"),
    [
        (2388024, "already exists in this language"),
        (2388299, "at the very start or end"),
        (2388293, "too many variables"),
        (2388019, "limit of templates"),
    ],
)
def test_metas_refusal_is_shown_in_plain_words_and_changes_nothing(cloud_channel, graph, subcode, words):
    template = _draft(cloud_channel)
    graph.template_errors.append(template_error(subcode))

    with pytest.raises(ValidationError) as caught:
        mt.template_submit(template=template)

    assert words in caught.value.messages[0]
    template.refresh_from_db()
    assert template.status == TemplateStatus.DRAFT and template.meta_template_id == ""


def test_meta_checks_its_rules_too_when_ours_are_bypassed(cloud_channel, graph):
    # Services trust their input (the form checks first); Meta's own rule still answers.
    components = [{"type": "BODY", "text": "{{1}} chegou", "example": {"body_text": [["Ana"]]}}]
    template = _draft(cloud_channel, "ruim", components=components)
    with pytest.raises(ValidationError) as caught:
        mt.template_submit(template=template)
    assert caught.value.messages == [mt.META_SUBCODE_MESSAGES["2388299"]]


def test_an_unknown_meta_error_keeps_metas_own_words(cloud_channel, graph):
    graph.template_errors.append(
        (400, {"error": {"message": "Invalid parameter", "code": 100, "error_user_title": "Bad thing happened"}})
    )
    with pytest.raises(ValidationError) as caught:
        mt.template_submit(template=_draft(cloud_channel))
    assert caught.value.messages == ["WhatsApp refused it: Bad thing happened"]


def test_a_submitted_template_cannot_be_submitted_again(cloud_channel, graph):
    template = mt.template_submit(template=_draft(cloud_channel))
    with pytest.raises(ValidationError):
        mt.template_submit(template=template)
    assert len(_requests(graph, "POST", "/message_templates")) == 1


# --- edit ---------------------------------------------------------------------------------------


def _approved(cloud_channel, graph):
    template = mt.template_submit(template=_draft(cloud_channel))
    graph.review(template.meta_template_id, "APPROVED")
    template.status = TemplateStatus.APPROVED
    template.save(update_fields=["status"])
    return template


def test_edit_replaces_the_components_whole_and_goes_back_to_review(cloud_channel, graph):
    template = _approved(cloud_channel, graph)
    new = with_examples(
        [{"type": "BODY", "text": "Olá {{1}}, a promoção de junho foi prorrogada até domingo."}],
        "POSITIONAL",
        {"1": "Ana"},
    )

    template = mt.template_edit_submit(template=template, components=new)

    [request] = [r for r in graph.requests if r.method == "POST" and r.path.endswith(f"/{template.meta_template_id}")]
    assert request.json() == {"components": new}
    assert template.components == new and template.status == TemplateStatus.PENDING
    assert graph.find_template(template.meta_template_id)[1]["components"] == new


def test_edit_of_a_template_in_review_is_refused_before_asking_meta(cloud_channel, graph):
    template = mt.template_submit(template=_draft(cloud_channel))
    graph.requests.clear()
    with pytest.raises(ValidationError) as caught:
        mt.template_edit_submit(template=template, components=template.components)
    assert "approved, rejected or paused" in caught.value.messages[0]
    assert graph.requests == []


def test_rejected_template_can_be_edited(cloud_channel, graph):
    template = mt.template_submit(template=_draft(cloud_channel))
    graph.review(template.meta_template_id, "REJECTED", reason="INVALID_FORMAT")
    template.status = TemplateStatus.REJECTED
    template.save(update_fields=["status"])
    template = mt.template_edit_submit(template=template, components=template.components, category="UTILITY")
    assert template.status == TemplateStatus.PENDING and template.category == "UTILITY"


# --- delete -------------------------------------------------------------------------------------


def test_delete_one_language_sends_hsm_id(cloud_channel, graph):
    pt = mt.template_submit(template=_draft(cloud_channel))
    en = mt.template_submit(template=_draft(cloud_channel, language="en_US"))

    assert mt.template_delete(template=pt) == 1

    [request] = _requests(graph, "DELETE", "/message_templates")
    assert request.query == {"name": ["promo_junho"], "hsm_id": [pt.meta_template_id]}
    assert not MessageTemplate.objects.filter(pk=pt.pk).exists()
    assert MessageTemplate.objects.filter(pk=en.pk).exists()
    assert [t["language"] for t in graph.templates[WABA]] == ["en_US"]


def test_delete_every_language_sends_only_the_name(cloud_channel, graph):
    pt = mt.template_submit(template=_draft(cloud_channel))
    mt.template_submit(template=_draft(cloud_channel, language="en_US"))

    assert mt.template_delete(template=pt, all_languages=True) == 2

    [request] = _requests(graph, "DELETE", "/message_templates")
    assert request.query == {"name": ["promo_junho"]}
    assert not MessageTemplate.objects.filter(name="promo_junho").exists()
    assert graph.templates[WABA] == []


def test_delete_of_a_local_template_never_calls_meta(sandbox_channel, graph):
    local = mt.template_save(
        origin=TemplateOrigin.LOCAL,
        name="lembrete",
        language="pt_BR",
        category="UTILITY",
        parameter_format="POSITIONAL",
        components=[{"type": "BODY", "text": "Olá {{1}}, seu horário é amanhã."}],
        variables={},
        channel=sandbox_channel,
    )
    assert local.status == TemplateStatus.APPROVED  # local templates are ready at once
    mt.template_delete(template=local)
    assert not MessageTemplate.objects.filter(pk=local.pk).exists()
    assert graph.requests == []


# --- webhooks -----------------------------------------------------------------------------------


def _deliver(client, channel, payload):
    body = json.dumps(payload).encode()
    return client.post(
        f"/webhooks/whatsapp/{channel.public_id}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature("meta-app-secret", body),
    )


def _process(django_capture_on_commit_callbacks, acme):
    from inbox.services import webhook_events_process

    connection.set_tenant(acme)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process()


TASK = "campaigns.template_updates_apply"


def _run_task(queued_tasks):
    """Run what the inbox queued for campaigns, as a worker would."""
    from campaigns.tasks import template_updates_apply

    schema, payload = queued_tasks.tasks(TASK)[-1].args
    return template_updates_apply(schema, payload)


def test_status_webhooks_move_the_template_live(
    cloud_channel, graph, public_client, acme, queued_tasks, django_capture_on_commit_callbacks
):
    from inbox import hooks

    assert TASK in hooks.listeners(hooks.ON_TEMPLATE_UPDATE)  # campaigns listens (CampaignsConfig.ready)
    template = mt.template_submit(template=_draft(cloud_channel))
    connection.set_schema_to_public()

    # when Meta approves it, through the same signed webhook as messages
    response = _deliver(public_client, cloud_channel, graph.review(template.meta_template_id, "APPROVED"))
    assert response.status_code == 200
    _process(django_capture_on_commit_callbacks, acme)
    # then the inbox hands it upward, and the campaigns task applies it
    [queued] = queued_tasks.tasks(TASK)
    schema, payload = queued.args
    updates = payload["updates"]
    assert schema == acme.schema_name and payload["channel"] == cloud_channel.pk
    assert updates[0]["kind"] == "status" and updates[0]["event"] == "APPROVED"
    assert updates[0]["waba_id"] == WABA and updates[0]["template_id"] == template.meta_template_id
    assert _run_task(queued_tasks) == 1
    template.refresh_from_db()
    assert template.status == TemplateStatus.APPROVED and template.is_sendable

    # and a rejection keeps Meta's reason, shown in plain words
    connection.set_schema_to_public()
    _deliver(public_client, cloud_channel, graph.review(template.meta_template_id, "REJECTED", reason="PROMOTIONAL"))
    _process(django_capture_on_commit_callbacks, acme)
    _run_task(queued_tasks)
    template.refresh_from_db()
    assert template.status == TemplateStatus.REJECTED and template.rejection_reason == "PROMOTIONAL"
    with translation.override("en"):  # the webhook request switched the active language
        assert "promotional" in mt.rejection_text(template.rejection_reason)


def test_paused_and_disabled_keep_metas_title(
    cloud_channel, graph, public_client, acme, queued_tasks, django_capture_on_commit_callbacks
):
    template = mt.template_submit(template=_draft(cloud_channel))
    connection.set_schema_to_public()
    _deliver(public_client, cloud_channel, graph.review(template.meta_template_id, "PAUSED"))
    _process(django_capture_on_commit_callbacks, acme)
    _run_task(queued_tasks)
    template.refresh_from_db()
    assert template.status == TemplateStatus.PAUSED and template.rejection_reason == "FIRST_PAUSE"
    with translation.override("en"):
        assert "3 hours" in mt.rejection_text(template.rejection_reason)


def test_quality_webhook_sets_the_quality(
    cloud_channel, graph, public_client, acme, queued_tasks, django_capture_on_commit_callbacks
):
    template = mt.template_submit(template=_draft(cloud_channel))
    connection.set_schema_to_public()
    _deliver(public_client, cloud_channel, graph.quality(template.meta_template_id, "YELLOW"))
    _process(django_capture_on_commit_callbacks, acme)
    update = queued_tasks.tasks(TASK)[-1].args[1]["updates"][0]
    assert update["kind"] == "quality" and update["previous_quality"] == "UNKNOWN"
    _run_task(queued_tasks)
    template.refresh_from_db()
    assert template.quality == TemplateQuality.YELLOW
    assert template.status == TemplateStatus.PENDING  # quality never changes the status


def test_an_older_event_delivered_late_does_not_undo_a_newer_one(cloud_channel, graph):
    template = mt.template_submit(template=_draft(cloud_channel))
    update = {"kind": "status", "waba_id": WABA, "template_id": template.meta_template_id}
    mt.template_updates_apply(
        channel=cloud_channel, updates=[{**update, "event": "APPROVED", "timestamp": "2030-01-02T10:00:00+00:00"}]
    )
    mt.template_updates_apply(
        channel=cloud_channel, updates=[{**update, "event": "PENDING", "timestamp": "2030-01-02T09:00:00+00:00"}]
    )
    template.refresh_from_db()
    assert template.status == TemplateStatus.APPROVED


def test_template_webhook_reaches_only_its_own_company(
    cloud_channel, graph, public_client, acme, other_company, queued_tasks, django_capture_on_commit_callbacks
):
    template = mt.template_submit(template=_draft(cloud_channel))
    # another company has a template with the same Meta id (it cannot, but must not be touched)
    connection.set_tenant(other_company)
    theirs = MessageTemplate.objects.create(
        origin=TemplateOrigin.META, waba_id=WABA, name="promo_junho", meta_template_id=template.meta_template_id
    )
    connection.set_schema_to_public()
    _deliver(public_client, cloud_channel, graph.review(template.meta_template_id, "APPROVED"))
    _process(django_capture_on_commit_callbacks, acme)
    _run_task(queued_tasks)
    connection.set_tenant(other_company)
    theirs.refresh_from_db()
    assert theirs.status == TemplateStatus.DRAFT
    connection.set_tenant(acme)
    template.refresh_from_db()
    assert template.status == TemplateStatus.APPROVED


def test_malformed_template_change_is_reported_and_costs_nothing_else(cloud_channel):
    from inbox.providers.meta import parse_meta_payload

    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA,
                "changes": [
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                    {"field": "message_template_quality_update", "value": "nonsense"},
                    {
                        "field": "message_template_status_update",
                        "value": {"event": "APPROVED", "message_template_id": 7, "reason": "NONE"},
                    },
                ],
            }
        ],
    }
    parsed = parse_meta_payload(payload, phone_number_id="1065550001")
    assert len(parsed.templates) == 1 and parsed.templates[0].template_id == "7"
    assert parsed.templates[0].reason == ""
    assert len(parsed.ignored) == 2
