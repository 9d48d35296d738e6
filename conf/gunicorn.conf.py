# gunicorn settings for `gunicorn -c conf/gunicorn.conf.py supernode.wsgi:application`.
# They are the `supernode` command's own (supernode/server.py: gunicorn_settings), from the same
# supernode.yml ($SUPERNODE_CONFIG, default /etc/dragonfly/supernode.yml) and SUPERNODE_* variables:
# both ports on listenAddress, exactly one gevent worker (all scheduling state is in its memory).
import os

from supernode import settings as _settings
from supernode.server import gunicorn_settings as _gunicorn_settings

_path = os.environ.get("SUPERNODE_CONFIG", _settings.DEFAULT_CONFIG_PATH)
globals().update(_gunicorn_settings(_settings.load(_path, explicit="SUPERNODE_CONFIG" in os.environ)))
