"""Cadence pages: list, new, builder (add, edit with the running-enrolments warning, move,
reorder, remove), status, enrol a segment, enrolment list, the contact list's selection, roles,
query counts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cadences.models import Cadence, CadenceStep, Enrollment


@pytest.fixture
def admin(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("admin", email="admin@pages.test"))


@pytest.fixture
def viewer(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@pages.test"))


def test_create_build_activate_and_enrol_a_segment(admin, channel, contacts):
    from crm.models import Segment

    r = admin.post(
        reverse("cadences:new"),
        {
            "name": "Boas-vindas",
            "channel": channel.pk,
            "weekdays": ["0", "1", "2", "3", "4"],
            "window_start": "09:00",
            "window_end": "18:00",
            "national_holidays": "on",
            "exit_on_reply": "any",
            "exit_on_failure": "on",
            "reenrol": "never",
            "enrol_mode": "manual",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    cadence = Cadence.objects.get(name="Boas-vindas")
    add = reverse("cadences:step-add", args=[cadence.pk])
    assert admin.post(add, {"kind": "send", "body": "Oi {{first_name}}!"}).status_code == 302
    assert admin.post(add, {"kind": "wait", "amount": "2", "unit": "days", "at": "09:30"}).status_code == 302
    assert admin.post(add, {"kind": "send", "body": "Conseguiu ver?"}).status_code == 302
    r = admin.post(add, {"kind": "wait", "amount": "0", "unit": "days"})
    assert r.status_code == 400 and "whole number" in r.content.decode()
    assert admin.post(reverse("cadences:status", args=[cadence.pk]), {"status": "active"}).status_code == 302

    page = admin.get(reverse("cadences:builder", args=[cadence.pk])).content.decode()
    assert page.count('data-testid="step-card"') == 3
    assert 'data-testid="preview-row"' in page and "09:30" in page
    assert 'data-testid="phone-preview"' in page

    people = contacts(3)
    segment = Segment.objects.create(name="Todos", filters={})
    r = admin.post(reverse("cadences:enrol-segment", args=[cadence.pk]), {"segment": segment.pk})
    assert r.status_code == 302
    assert Enrollment.objects.filter(cadence=cadence).count() >= 3
    listing = admin.get(reverse("cadences:enrollments", args=[cadence.pk])).content.decode()
    assert listing.count('data-testid="enrolment-row"') >= 3
    assert people[0].name in listing


def test_editing_a_step_under_running_enrolments_asks_to_confirm(admin, make_cadence, contacts):
    from cadences.services import enrol

    cadence = make_cadence([("send", {"body": "1"}), ("wait", {"amount": 1, "unit": "days"})])
    enrol(cadence=cadence, contact_ids=[c.pk for c in contacts(2)])
    step = cadence.steps.get(position=1)
    url = reverse("cadences:step-edit", args=[cadence.pk, step.pk])
    page = admin.get(reverse("cadences:builder", args=[cadence.pk])).content.decode()
    assert 'data-testid="step-impact"' in page
    r = admin.post(url, {"amount": "3", "unit": "days"})
    assert r.status_code == 400 and "Tick the box" in r.content.decode()
    assert CadenceStep.objects.get(pk=step.pk).config["amount"] == 1
    assert admin.post(url, {"amount": "3", "unit": "days", "confirm": "1"}).status_code == 302
    assert CadenceStep.objects.get(pk=step.pk).config["amount"] == 3


def test_move_reorder_and_remove(admin, make_cadence):
    cadence = make_cadence([("send", {"body": "a"}), ("wait", {"amount": 1, "unit": "hours"}), ("send", {"body": "b"})])
    a, w, b = cadence.steps.order_by("position")
    admin.post(reverse("cadences:step-move", args=[cadence.pk, b.pk]), {"direction": "up"})
    assert list(cadence.steps.order_by("position").values_list("pk", flat=True)) == [a.pk, b.pk, w.pk]
    r = admin.post(reverse("cadences:steps-reorder", args=[cadence.pk]), {"steps": f"{w.pk},{a.pk},{b.pk}"})
    assert r.status_code == 200 and r.json()["steps"] == [w.pk, a.pk, b.pk]
    r = admin.post(reverse("cadences:steps-reorder", args=[cadence.pk]), {"steps": "x,y"})
    assert r.status_code == 400 and r.json()["error"]
    admin.post(reverse("cadences:step-delete", args=[cadence.pk, w.pk]))
    assert cadence.steps.count() == 2


def test_the_contact_lists_selection_is_enrolled(admin, make_cadence, contacts):
    cadence = make_cadence()
    people = contacts(3)
    url = reverse("cadences:enrol") + f"?contact={people[0].pk}&contact={people[1].pk}"
    page = admin.get(url).content.decode()
    assert "2 contacts selected" in page
    r = admin.post(reverse("cadences:enrol"), {"contact": [people[0].pk, people[1].pk], "cadence": cadence.pk})
    assert r.status_code == 302
    assert Enrollment.objects.filter(cadence=cadence).count() == 2
    r = admin.post(reverse("cadences:enrol"), {"all": "1", "q": people[2].name, "cadence": cadence.pk})
    assert r.status_code == 302


def test_viewer_reads_but_cannot_change(viewer, make_cadence):
    cadence = make_cadence()
    assert viewer.get(reverse("cadences:list")).status_code == 200
    assert viewer.get(reverse("cadences:builder", args=[cadence.pk])).status_code == 200
    assert viewer.post(reverse("cadences:status", args=[cadence.pk]), {"status": "paused"}).status_code == 403
    assert viewer.get(reverse("cadences:new")).status_code == 403


def test_list_and_enrolments_query_counts_do_not_grow(admin, make_cadence, contacts, query_count):
    from cadences.services import enrol

    cadence = make_cadence()

    def grow():
        make_cadence(name="Outra")
        enrol(cadence=cadence, contact_ids=[c.pk for c in contacts(5)])

    enrol(cadence=cadence, contact_ids=[c.pk for c in contacts(1)])
    query_count.does_not_grow(admin, reverse("cadences:list"), grow=lambda: None, most=12)
    query_count.does_not_grow(admin, reverse("cadences:enrollments", args=[cadence.pk]), grow=grow, most=14)


def test_demo_cadence_is_active_with_enrolments_once(tenant):
    from cadences.demo import DEMO_CADENCE, demo_cadence_setup
    from crm.demo import demo_contacts_setup
    from inbox.demo import demo_inbox_setup

    demo_contacts_setup()
    demo_inbox_setup()
    assert demo_cadence_setup() > 0
    assert demo_cadence_setup() == 0
    cadence = Cadence.objects.get(name=DEMO_CADENCE)
    assert cadence.status == "active" and cadence.steps.count() == 6
    assert cadence.active_count == Enrollment.objects.filter(cadence=cadence).count() > 0


def test_support_staff_see_each_companys_cadences(public_client, make_user, acme):
    from django.db import connection

    staff = make_user(email="suporte@cad.test", is_staff=True, is_superuser=True)
    connection.set_schema_to_public()
    public_client.force_login(staff)
    listing = public_client.get("/admin/cadences/companycadences/")
    assert listing.status_code == 200 and "Acme" in listing.content.decode()


def test_cadence_steps_show_in_the_contact_timeline(admin, make_cadence, contacts):
    from cadences.services import enrol
    from cadences.tests.conftest import TUESDAY, tick

    cadence = make_cadence()
    (person,) = contacts(1)
    enrol(cadence=cadence, contact_ids=[person.pk], now=TUESDAY)
    tick(TUESDAY)
    page = admin.get(reverse("crm:contact", args=[person.pk])).content.decode()
    assert "Follow-up · 1: Handed to sending" in page, page[page.find('data-testid="timeline"') :][:1500]


def test_pages_speak_portuguese(tenant_client_factory, acme, make_member, make_cadence):
    from django.conf import settings

    cadence = make_cadence()
    client = tenant_client_factory(acme, make_member("admin", email="pt@pages.test"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "pt-br"
    page = client.get(reverse("cadences:builder", args=[cadence.pk])).content.decode()
    assert "Prévia da agenda" in page and "Adicionar um passo" in page


def test_step_campaigns_stay_out_of_the_campaign_list(admin, make_cadence):
    cadence = make_cadence(name="Escondida")
    step = cadence.steps.get()
    assert step.campaign.kind == "cadence"
    page = admin.get(reverse("campaigns:list")).content.decode()
    assert step.campaign.name not in page
    api = admin.get("/api/v1/campaigns/").json()
    assert all(row["id"] != step.campaign_id for row in api.get("results", api))


def test_the_contact_list_links_its_selection_to_the_enrol_page(admin, viewer, make_cadence, contacts):
    """The CRM's bulk bar shows "Enrol in a cadence" (registered through ui.record_links, the CRM
    imports nothing of cadences), carrying the list's filters for "all matching"."""
    make_cadence()
    contacts(2)
    page = admin.get("/contacts/?q=Cliente&tag=").content.decode()
    assert 'data-testid="bulk-link-cadence-enrol"' in page
    assert f'action="{reverse("cadences:enrol")}"' in page
    assert '<input type="hidden" name="q" value="Cliente">' in page
    assert 'data-testid="bulk-link-cadence-enrol"' not in viewer.get("/contacts/").content.decode()
