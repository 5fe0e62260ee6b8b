"""Extensions, created unbound; `create_app` binds them with `init_app`. Nothing happens at import."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from eldercare.core.db import Base

# expire_on_commit off: a request commits, then serialises what it just wrote without re-reading it.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
socketio = SocketIO()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Limits are declared on the routes that need them (login); nothing is limited by default.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
