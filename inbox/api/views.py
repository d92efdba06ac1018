"""Inbox API: channels, conversations, messages, canned responses and labels.

Role rules: viewers read; agents work conversations (assign, status, labels, send, notes);
admins manage channels, labels and canned responses.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from core.params import int_param
from inbox import selectors, services
from inbox.api import serializers as s
from inbox.models import CannedResponse, Conversation, ConversationStatus, Label, Message
from tenants.api.base import TenantViewSet
from tenants.context import current_company
from tenants.roles import Role


def _as_drf(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "message_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"detail": exc.messages})


def _actor(request):
    """The user acting (``None`` for an API key: not a person)."""
    user = request.user
    return user if getattr(user, "pk", None) else None


class ConversationPagination(CursorPagination):
    ordering = ("-last_message_at", "-id")
    page_size = 50


class MessagePagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Channels of the company with their health. Admins connect, update and disconnect."""

    serializer_class = s.InboxChannelOutput
    write_role = Role.ADMIN
    pagination_class = None

    def get_queryset(self):
        return selectors.channel_list()

    @extend_schema(request=s.InboxChannelInput, responses={201: s.InboxChannelOutput})
    def create(self, request):
        data = s.InboxChannelInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        config_keys = ("phone_number_id", "waba_id", "display_phone", "account_sid", "from_number")
        try:
            channel = services.channel_create(
                kind=v["kind"],
                name=v["name"],
                config={k: v[k] for k in config_keys if v.get(k)},
                credentials={k: v[k] for k in services.SECRET_FIELDS if v.get(k)},
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.InboxChannelOutput(channel).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        channel = self.get_object()
        services.channel_disconnect(channel=channel)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.InboxChannelHealthOutput)
    @action(detail=True, methods=["get"])
    def health(self, request, pk=None):
        channel = self.get_object()
        return Response(
            {
                "id": channel.pk,
                "status": channel.status,
                "status_detail": channel.status_detail,
                "session_state": channel.session_state,
                "last_activity_at": channel.last_activity_at,
                "token_expires_at": channel.token_expires_at,
                "token_checked_at": channel.token_checked_at,
            }
        )


class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Conversations, with the inbox page's filters and search: ``status`` (open, pending,
    resolved, snoozed, or ``any``; none: open and pending, the work queue), ``assignee``
    (``me``, ``none`` or a user id), ``channel``, ``label``, ``q`` (name, e-mail, last message
    or phone)."""

    serializer_class = s.InboxConversationOutput
    pagination_class = ConversationPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[*ConversationStatus.values, "any"]),
            OpenApiParameter("assignee", str, description='"me", "none" or a user id.'),
            OpenApiParameter("channel", int),
            OpenApiParameter("label", int),
            OpenApiParameter("q", str, description="Name, e-mail, last message, or 3+ digits of the phone."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        assignee = params.get("assignee", "")
        return selectors.conversation_list(
            user_id=getattr(self.request.user, "pk", None),
            view={"me": "mine", "none": "unassigned"}.get(assignee, "all"),
            status=params.get("status", ""),
            channel_id=int_param(params.get("channel")),
            label_id=int_param(params.get("label")),
            assignee_id=int_param(assignee),
            search=params.get("q", "")[:100],
        )

    def _conversation(self, pk) -> Conversation:
        return get_object_or_404(Conversation.objects.select_related("channel", "contact"), pk=pk)

    def _done(self, conversation):
        conversation = Conversation.objects.select_related("contact").prefetch_related("labels").get(pk=conversation.pk)
        return Response(s.InboxConversationOutput(conversation).data)

    @extend_schema(request=s.InboxAssignInput, responses=s.InboxConversationOutput)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self._conversation(pk)
        data = s.InboxAssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            if data.validated_data.get("auto"):
                services.conversation_auto_assign(conversation=conversation)
            else:
                agent_id = data.validated_data.get("assignee")
                agent = services.agent_get(user_id=agent_id) if agent_id else None
                services.conversation_assign(conversation=conversation, agent=agent, by=_actor(request))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._done(conversation)

    @extend_schema(request=s.InboxStatusInput, responses=s.InboxConversationOutput)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        conversation = self._conversation(pk)
        data = s.InboxStatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.conversation_set_status(
                conversation=conversation,
                status=data.validated_data["status"],
                by=_actor(request),
                snoozed_until=data.validated_data.get("snoozed_until"),
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._done(conversation)

    @extend_schema(request=s.InboxLabelsInput, responses=s.InboxConversationOutput)
    @action(detail=True, methods=["post"])
    def labels(self, request, pk=None):
        conversation = self._conversation(pk)
        data = s.InboxLabelsInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.conversation_set_labels(
                conversation=conversation, label_ids=data.validated_data["labels"], by=_actor(request)
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._done(conversation)

    @extend_schema(request=None, responses=s.InboxConversationOutput)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        conversation = self._conversation(pk)
        services.conversation_mark_read(conversation=conversation, by=_actor(request))
        return self._done(conversation)

    @extend_schema(request=s.InboxNoteInput, responses={201: s.InboxMessageOutput})
    @action(detail=True, methods=["post"])
    def notes(self, request, pk=None):
        conversation = self._conversation(pk)
        data = s.InboxNoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            note = services.note_add(conversation=conversation, body=data.validated_data["body"], by=_actor(request))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.InboxMessageOutput(note).data, status=status.HTTP_201_CREATED)


class MessageViewSet(mixins.ListModelMixin, TenantViewSet):
    """Messages of a conversation (newest first). ``POST`` sends; send the same
    ``Idempotency-Key`` header on a retry and the message is not sent twice."""

    serializer_class = s.InboxMessageOutput
    pagination_class = MessagePagination

    def _conversation(self) -> Conversation:
        return get_object_or_404(
            Conversation.objects.select_related("channel", "contact"), pk=self.kwargs["conversation_pk"]
        )

    def get_queryset(self):
        return Message.objects.filter(conversation=self._conversation())

    @extend_schema(
        request={"application/json": s.InboxMessageInput, "multipart/form-data": s.InboxMessageInput},
        responses={201: s.InboxMessageOutput, 200: s.InboxMessageOutput},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Send the same key when retrying: the message is sent once (200 returns it).",
            )
        ],
    )
    def create(self, request, conversation_pk=None):
        conversation = self._conversation()
        data = s.InboxMessageInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        sender = {
            "by": _actor(request),
            "idempotency_key": request.headers.get("Idempotency-Key") or None,
            "api_key_id": request.principal.api_key_id,
        }
        try:
            if v["type"] == "template":
                message, created = services.message_send_template(
                    conversation=conversation,
                    name=v.get("template", ""),
                    language=v.get("language", ""),
                    components=v.get("components") or [],
                    body=v.get("text", ""),
                    **sender,
                )
            elif v["type"] == "media":
                upload = v.get("file")
                if upload is not None and upload.size > services.MAX_MEDIA_BYTES:
                    # Refused before it is read into memory.
                    raise ValidationError({"file": [_(services.ERR_MEDIA_TOO_LARGE)]})
                message, created = services.message_send_media(
                    conversation=conversation,
                    content=upload.read() if upload is not None else None,
                    filename=upload.name if upload is not None else "",
                    mime=getattr(upload, "content_type", "") or "",
                    caption=v.get("caption", ""),
                    **sender,
                )
            else:
                message, created = services.message_send_text(
                    conversation=conversation, text=v.get("text", ""), **sender
                )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(
            s.InboxMessageOutput(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class LabelViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    serializer_class = s.InboxLabelOutput
    write_role = Role.ADMIN
    pagination_class = None

    def get_queryset(self):
        return selectors.label_list()

    @extend_schema(request=s.InboxLabelInput, responses={201: s.InboxLabelOutput})
    def create(self, request):
        data = s.InboxLabelInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            label = services.label_create(**data.validated_data)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.InboxLabelOutput(label).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Label):
        services.label_delete(label=instance)


class CannedResponseViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    """Canned responses (``?q=`` filters by shortcut or title). Admins manage them."""

    serializer_class = s.InboxCannedOutput
    write_role = Role.ADMIN
    pagination_class = None

    def get_queryset(self):
        return selectors.canned_response_list(query=self.request.query_params.get("q", ""))

    @extend_schema(request=s.InboxCannedInput, responses={201: s.InboxCannedOutput})
    def create(self, request):
        data = s.InboxCannedInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            canned = services.canned_response_create(**data.validated_data, by=_actor(request))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.InboxCannedOutput(canned).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: CannedResponse):
        services.canned_response_delete(canned=instance)


ERR_ONLY_OWN_AVAILABILITY = gettext_noop("Agents can only change their own availability.")


class AgentViewSet(TenantViewSet):
    """Agents and their round-robin settings: capacity (open conversations at once) and
    availability. Admins change anyone's; an agent may switch their own availability."""

    pagination_class = None
    serializer_class = s.InboxAgentOutput

    @extend_schema(responses=s.InboxAgentOutput(many=True))
    def list(self, request):
        return Response(s.InboxAgentOutput(selectors.agent_rows(company=current_company()), many=True).data)

    @extend_schema(request=s.InboxAgentInput, responses=s.InboxAgentOutput)
    def partial_update(self, request, pk=None):
        user_id = int_param(pk)
        rows = selectors.agent_rows(company=current_company(), user_id=user_id) if user_id is not None else []
        if not rows:
            raise NotFound
        data = s.InboxAgentInput(data=request.data)
        data.is_valid(raise_exception=True)
        principal = request.principal
        is_admin = principal.can(Role.ADMIN)
        if not is_admin and (principal.user_id != rows[0]["user_id"] or "capacity" in data.validated_data):
            raise PermissionDenied(_(ERR_ONLY_OWN_AVAILABILITY))
        try:
            services.agent_settings_update(user=services.agent_get(user_id=rows[0]["user_id"]), **data.validated_data)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.InboxAgentOutput(selectors.agent_rows(company=current_company(), user_id=user_id)[0]).data)
