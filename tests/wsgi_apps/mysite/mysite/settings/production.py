from . import *  # noqa: F401,F403

SETTINGS_NAME = "production"
