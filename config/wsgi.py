import os

from django.core.wsgi import get_wsgi_application

# Unset means production: a server started without it must not run with DEBUG and dev keys.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()
