import os

from django.core.asgi import get_asgi_application

# Unset means production: a server started without it must not run with DEBUG and dev keys.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from core.asgi import BodySizeLimit  # noqa: E402
from inbox.asgi import WebhookFastPath  # noqa: E402
from tenants.websocket import SameOriginMiddleware, TenantWebsocketMiddleware  # noqa: E402

# Meta webhook deliveries are accepted before the Django stack (signature check and a
# group-committed insert; see inbox.asgi); everything else goes through Django or Channels.
routed_application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        "websocket": SameOriginMiddleware(
            TenantWebsocketMiddleware(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
application = WebhookFastPath(routed_application)
