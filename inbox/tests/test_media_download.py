"""Downloading inbound media (audit L3): the Graph token goes to Meta's media hosts only, MMS
redirects never lead to private addresses, and a file past the size cap is not read whole."""

from __future__ import annotations

import pytest

from inbox.providers import get_provider
from inbox.providers.base import ProviderError


def test_graph_media_url_on_another_host_gets_no_token(cloud_channel, graph, twilio):
    # a media object naming a host that is not Meta's (the "evil" one here is the SMS stub)
    graph.media["m1"] = (b"\xff\xd8\xff secret", "image/jpeg")
    graph.media_urls["m1"] = f"{twilio.url}/media/ME1"
    twilio.requests.clear()
    with pytest.raises(ProviderError) as exc:
        get_provider(cloud_channel).fetch_media(media_id="m1")
    assert exc.value.code == "media"
    assert twilio.requests == []  # nothing, and no bearer token, went there


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "https://127.0.0.1:1/x", "file:///etc/passwd"]
)
def test_graph_media_url_to_internal_addresses_is_refused(cloud_channel, graph, url):
    graph.media["m2"] = (b"x", "image/jpeg")
    graph.media_urls["m2"] = url
    with pytest.raises(ProviderError):
        get_provider(cloud_channel).fetch_media(media_id="m2")


def test_graph_media_on_meta_host_still_downloads(cloud_channel, graph):
    graph.media["m3"] = (b"\xff\xd8\xff ok", "image/jpeg")
    fetched = get_provider(cloud_channel).fetch_media(media_id="m3")
    assert fetched.content == b"\xff\xd8\xff ok" and fetched.mime == "image/jpeg"


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://127.0.0.1:9/private",
        "http://10.0.0.5/x",
        "https://localhost/x",
    ],
)
def test_sms_media_redirects_to_private_addresses_are_refused(sms_channel, twilio, location):
    twilio.redirects["ME2"] = location
    with pytest.raises(ProviderError) as exc:
        get_provider(sms_channel).fetch_media(media_id=f"{twilio.url}/media/ME2")
    assert exc.value.code == "media"


def test_sms_media_redirect_within_the_provider_is_followed(sms_channel, twilio):
    twilio.media["ME4"] = (b"\xff\xd8\xff mms", "image/jpeg")
    twilio.redirects["ME3"] = f"{twilio.url}/media/ME4"
    fetched = get_provider(sms_channel).fetch_media(media_id=f"{twilio.url}/media/ME3")
    assert fetched.content == b"\xff\xd8\xff mms"


def test_media_past_the_size_cap_is_refused(cloud_channel, sms_channel, graph, twilio, settings):
    settings.INBOUND_MEDIA_MAX_MB = 0.01  # 10 KiB
    graph.media["big"] = (b"\0" * 20_000, "video/mp4")
    twilio.media["MEbig"] = (b"\0" * 20_000, "video/mp4")
    with pytest.raises(ProviderError) as exc:
        get_provider(cloud_channel).fetch_media(media_id="big")
    assert exc.value.code == "media_too_large"
    with pytest.raises(ProviderError) as exc:
        get_provider(sms_channel).fetch_media(media_id=f"{twilio.url}/media/MEbig")
    assert exc.value.code == "media_too_large"
