"""WSGI entry point for gunicorn in production: `gunicorn 'eldercare.wsgi:app'`."""

from eldercare import create_app
from eldercare.core.runtime import calm_garbage_collector

app = create_app()
calm_garbage_collector()
