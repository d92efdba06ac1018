"""Demo data, navigation and the support admin."""

from __future__ import annotations

from kanban.demo import demo_kanban_setup
from kanban.models import Card, Pipeline


def test_demo_pipeline_on_demo_contacts(tenant, make_contact):
    for _ in range(20):
        make_contact()
    pipeline = demo_kanban_setup()
    assert pipeline.name == "Vendas"
    assert Card.objects.filter(pipeline=pipeline).count() == 18
    assert demo_kanban_setup() is None
    assert Pipeline.objects.filter(name="Vendas").count() == 1


def test_navigation_entry(owner_client, tenant):
    body = owner_client.get("/pipelines/", follow=True).content.decode()
    assert 'href="/pipelines/"' in body


def test_support_admin_lists_companies(public_client, make_user, acme):
    staff = make_user(email="staff@masteria.test", is_staff=True, is_superuser=True)
    public_client.force_login(staff)
    response = public_client.get("/admin/kanban/companykanban/")
    assert response.status_code == 200
    assert acme.name in response.content.decode()
