"""Receivers of allauth's signals: each calls one service and nothing else."""

from __future__ import annotations


def social_account_added(sender, request, sociallogin, **kwargs) -> None:
    from tenants.services import user_tokens_revoke

    user_tokens_revoke(user=sociallogin.user)
