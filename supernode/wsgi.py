"""gunicorn entry for operators who run gunicorn themselves:

    gunicorn -c conf/gunicorn.conf.py supernode.wsgi:application

Settings come from $SUPERNODE_CONFIG (default /etc/dragonfly/supernode.yml) and SUPERNODE_*
environment variables. gunicorn imports this module inside its worker, i.e. after the fork.
"""

import os

from supernode import settings as settings_mod
from supernode.netinfo import default_advertise_ip
from supernode.server import build_wsgi, setup_logging

_path = os.environ.get("SUPERNODE_CONFIG", settings_mod.DEFAULT_CONFIG_PATH)
_settings = settings_mod.load(_path, explicit="SUPERNODE_CONFIG" in os.environ)
setup_logging(_settings)
application = build_wsgi(_settings, _settings.advertise_ip or default_advertise_ip()[0])
