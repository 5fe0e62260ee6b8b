"""WSGI entry point for gunicorn in production: `gunicorn 'eldercare.wsgi:app'`."""

from eldercare import create_app

app = create_app()
