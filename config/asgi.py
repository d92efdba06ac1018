import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from inbox.asgi import WebhookFastPath  # noqa: E402
from tenants.websocket import TenantWebsocketMiddleware  # noqa: E402

# Meta webhook deliveries are accepted before the Django stack (signature check and a
# group-committed insert; see inbox.asgi); everything else goes through Django or Channels.
routed_application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            TenantWebsocketMiddleware(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
application = WebhookFastPath(routed_application)
