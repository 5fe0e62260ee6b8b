"""The Celery application, built by the same factory as the web app.

    celery -A worker worker -Q alarms,dispatch,notify,default
    celery -A worker beat
"""

from eldercare import create_app
from eldercare.core.runtime import calm_garbage_collector

flask_app = create_app()
celery = flask_app.extensions["celery"]
calm_garbage_collector()
