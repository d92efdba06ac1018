"""Demo contacts for the demo company: realistic Brazilian names, numbers, tags and fields."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from crm.models import ConsentStatus, Contact, ContactList, ContactListMember, CustomFieldDefinition, FieldType, Segment
from crm.tags import tags_ensure

FIRST = [
    "Ana", "Bruno", "Camila", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
    "Juliana", "Lucas", "Mariana", "Matheus", "Natália", "Otávio", "Patrícia", "Rafael", "Sofia", "Thiago",
    "Vitória", "Letícia", "André", "Beatriz", "Caio", "Débora", "Érica", "Fábio", "Gustavo", "Helena",
]  # fmt: skip
LAST = [
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Araújo", "Melo", "Barbosa", "Rocha", "Dias", "Conceição",
]  # fmt: skip
DDDS = [11, 21, 31, 41, 51, 61, 71, 81, 85, 19, 27, 48, 62, 92]
CITIES = ["São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Porto Alegre", "Brasília", "Salvador", "Recife"]
DEMO_COUNT = 300


@transaction.atomic
def demo_contacts_setup() -> int:
    """Create the demo contacts once; later runs add nothing. Returns the contacts created."""
    if Contact.objects.filter(source="demo").exists():
        return 0
    rng = random.Random(2026)
    CustomFieldDefinition.objects.get_or_create(
        key="cidade", defaults={"label": "Cidade", "field_type": FieldType.CHOICE, "choices": CITIES, "position": 1}
    )
    CustomFieldDefinition.objects.get_or_create(
        key="aniversario", defaults={"label": "Aniversário", "field_type": FieldType.DATE, "position": 2}
    )
    CustomFieldDefinition.objects.get_or_create(
        key="valor_gasto", defaults={"label": "Valor gasto (R$)", "field_type": FieldType.NUMBER, "position": 3}
    )
    tag_ids = tags_ensure(names=["Cliente", "Lead", "VIP", "Black Friday", "Suporte"])
    now = timezone.now()
    contacts = []
    for i in range(DEMO_COUNT):
        first, last = FIRST[i % len(FIRST)], rng.choice(LAST)
        ddd = DDDS[i % len(DDDS)]
        created = now - dt.timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440))
        consent = rng.choices(
            [ConsentStatus.OPTED_IN, ConsentStatus.UNKNOWN, ConsentStatus.OPTED_OUT], weights=[6, 3, 1]
        )[0]
        contacts.append(
            Contact(
                name=f"{first} {last}",
                phone=f"+55{ddd}9{rng.randint(6000, 9999)}{i:04d}",
                email=f"{first.lower()}.{last.lower()}{i}@exemplo.com.br".encode("ascii", "ignore").decode()
                if i % 3
                else "",
                tag_ids=sorted(set(rng.sample(tag_ids, rng.randint(0, 2)))),
                custom_fields={
                    "cidade": rng.choice(CITIES),
                    "valor_gasto": round(rng.uniform(0, 5000), 2),
                    **(
                        {"aniversario": f"19{rng.randint(60, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
                        if i % 4
                        else {}
                    ),
                },
                source="demo",
                consent_status=consent,
                consent_changed_at=created if consent != ConsentStatus.UNKNOWN else None,
                consent_source="demo" if consent != ConsentStatus.UNKNOWN else "",
                created_at=created,
                updated_at=created,
                last_interaction_at=created + dt.timedelta(days=rng.randint(0, 30)) if i % 2 else None,
            )
        )
    inserted = Contact.objects.bulk_create(contacts, ignore_conflicts=True)
    vip_list, _ = ContactList.objects.get_or_create(
        name="Clientes VIP", defaults={"description": "Atendimento prioritário"}
    )
    vip = Contact.objects.filter(source="demo", tag_ids__contains=[tag_ids[2]])
    ContactListMember.objects.bulk_create(
        [ContactListMember(contact_list=vip_list, contact=c) for c in vip], ignore_conflicts=True
    )
    Segment.objects.get_or_create(
        name="Leads de São Paulo",
        defaults={
            "filters": {
                "tags_any": [tag_ids[1]],
                "fields": [{"key": "cidade", "op": "eq", "value": "São Paulo", "type": "choice"}],
            }
        },
    )
    return len(inserted)
