"""Test data for the CRM."""

from __future__ import annotations

import factory

from crm.models import Contact, ContactList, CustomFieldDefinition, Segment, Tag


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"Tag {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"Contato {n}")
    phone = factory.Sequence(lambda n: f"+55119{70000000 + n:08d}")
    email = ""


class ContactListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactList

    name = factory.Sequence(lambda n: f"Lista {n}")


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segmento {n}")
    filters = factory.LazyFunction(dict)


class FieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomFieldDefinition

    key = factory.Sequence(lambda n: f"campo_{n}")
    label = factory.Sequence(lambda n: f"Campo {n}")
