"""Every supernode setting (docs/operations.md#configuration-and-precedence plus decisions.md's additions): key,
default, one comment."""

from common.pieces import PieceSizePolicy
from common.shell import config as c

DEFAULT_CONFIG_PATH = "/etc/dragonfly/supernode.yml"
ENV_PREFIX = "SUPERNODE_"

SCHEMA = [
    c.Setting(
        "cdn_pattern",
        "base.cdnPattern",
        "local",
        "local: fetch and cache sources; source: clients read the source directly",
        parse=c.choice("local", "source"),
    ),
    c.Setting("listen_port", "base.listenPort", 8002, "port of the REST API", parse=c.in_range(1, 65535)),
    c.Setting("download_port", "base.downloadPort", 8001, "port that serves CDN pieces", parse=c.in_range(1, 65535)),
    c.Setting(
        "download_server",
        "base.downloadServer",
        "builtin",
        "builtin: the supernode serves its CDN files on downloadPort; external: it does not bind downloadPort, "
        "a static server (nginx) rooted at <homeDir>/repo serves them there, as in v1 (docs/operations.md)",
        parse=c.choice("builtin", "external"),
    ),
    c.Setting("listen_address", "base.listenAddress", "0.0.0.0", "address both ports bind to", parse=c.text),
    c.Setting(
        "home_dir",
        "base.homeDir",
        "/home/admin/supernode",
        "cache in <homeDir>/repo, logs in <homeDir>/logs",
        parse=c.text,
    ),
    c.Setting(
        "advertise_ip",
        "base.advertiseIP",
        "",
        "IP peers use to reach this supernode; empty = first non-loopback IPv4, else 127.0.0.1",
        parse=c.text,
    ),
    c.Setting("peer_up_limit", "base.peerUpLimit", 5, "pieces one peer uploads at once", parse=c.in_range(1, 1000)),
    c.Setting(
        "peer_down_limit", "base.peerDownLimit", 4, "pieces one client downloads at once", parse=c.in_range(1, 1000)
    ),
    c.Setting(
        "supernode_task_upload_limit",
        "base.supernodeTaskUploadLimit",
        0,
        "pieces of one task the supernode serves at once; 0 = one per 2 MiB/s of maxBandwidth minus "
        "systemReservedBandwidth, 2 to 64 (v1 reused peerDownLimit)",
        parse=c.in_range(0, 100000),
    ),
    c.size_setting(
        "system_reserved_bandwidth", "base.systemReservedBandwidth", "20M", "bandwidth kept back from source downloads"
    ),
    c.size_setting("max_bandwidth", "base.maxBandwidth", "200M", "total bandwidth; the CDN may use max minus reserved"),
    c.Setting(
        "scheduler_core_pool_size",
        "base.schedulerCorePoolSize",
        10,
        "unused, kept for v1 config files",
        parse=c.integer,
    ),
    c.Setting(
        "enable_profiler", "base.enableProfiler", False, "serve /debug/pprof-style profiling routes", parse=c.boolean
    ),
    c.Setting("debug", "base.debug", False, "debug logging", parse=c.boolean),
    c.duration_setting(
        "fail_access_interval", "base.failAccessInterval", "3m", "how long a 404 source is remembered as unreachable"
    ),
    c.duration_setting("gc_initial_delay", "base.gcInitialDelay", "6s", "delay before the first GC round"),
    c.duration_setting("gc_meta_interval", "base.gcMetaInterval", "2m", "period of task and peer GC"),
    c.duration_setting("task_expire_time", "base.taskExpireTime", "3m", "idle time after which a task is collected"),
    c.duration_setting("peer_gc_delay", "base.peerGCDelay", "3m", "time a service-down peer is kept"),
    c.duration_setting("gc_disk_interval", "base.gcDiskInterval", "15s", "period of disk GC"),
    c.size_setting(
        "young_gc_threshold", "base.youngGCThreshold", "100G", "free space above which disk GC does nothing"
    ),
    c.size_setting(
        "full_gc_threshold", "base.fullGCThreshold", "5G", "free space below which disk GC evicts every idle file"
    ),
    c.duration_setting(
        "interval_threshold",
        "base.IntervalThreshold",
        "2h",
        "files idle longer than their usual interval plus this are evicted first",
    ),
    c.Setting(
        "clean_ratio",
        "base.CleanRatio",
        1,
        "tenths of the candidates evicted per disk GC round",
        parse=c.in_range(1, 10),
    ),
    c.Setting(
        "elimination_limit",
        "base.eliminationLimit",
        5,
        "upload failures before a peer stops being a source",
        parse=c.in_range(1, 1000),
    ),
    c.Setting(
        "failure_count_limit",
        "base.failureCountLimit",
        5,
        "download failures before a client only uses the supernode",
        parse=c.in_range(1, 1000),
    ),
    c.size_setting("link_limit", "base.linkLimit", "20M", "unused, kept for v1 config files"),
    c.Setting(
        "piece_size_policy",
        "base.pieceSizePolicy",
        "adaptive",
        "adaptive: about 64 pieces per file; v1: v1's table",
        parse=c.choice(*(p.value for p in PieceSizePolicy)),
    ),
    c.duration_setting(
        "long_poll_max", "base.longPollMax", "20s", "longest a /peer/task call is held waiting for a piece"
    ),
    c.Setting(
        "max_connections",
        "base.maxConnections",
        10000,
        "open connections each port accepts at once (gunicorn worker_connections)",
        parse=c.in_range(16, 1000000),
    ),
    c.Setting(
        "max_connections_per_source",
        "base.maxConnectionsPerSource",
        512,
        "open connections one source address may hold on each port; more are refused at once (503); 0 = no limit",
        parse=c.in_range(0, 1000000),
    ),
    c.duration_setting(
        "request_header_timeout",
        "base.requestHeaderTimeout",
        "10s",
        "a request's headers must arrive within this (from connect, or from its first byte on a kept-alive "
        "connection); 0 = no deadline",
    ),
    c.duration_setting(
        "request_body_timeout",
        "base.requestBodyTimeout",
        "30s",
        "a request's body must arrive within this after its headers (else 408); 0 = no deadline",
    ),
    c.duration_setting(
        "stop_grace",
        "base.stopGrace",
        "3s",
        "after SIGTERM, requests in flight (a piece being sent) get this long to finish, then are cut; "
        "a second stop signal or SIGINT cuts them at once",
    ),
    c.duration_setting(
        "source_probe_timeout", "base.sourceProbeTimeout", "4s", "timeout of HEAD / revalidation probes of the source"
    ),
    c.duration_setting(
        "revalidate_interval",
        "base.revalidateInterval",
        "10s",
        "a finished task in memory is revalidated against its source (conditional HEAD) on registration "
        "at most this often; a changed source retires the task and the CDN rebuilds it; 0 = every time",
    ),
    c.duration_setting(
        "source_read_timeout",
        "base.sourceReadTimeout",
        "60s",
        "a source stream idle this long is broken (then resumed)",
    ),
    c.size_setting(
        "source_min_rate",
        "base.sourceMinRate",
        "1K",
        "a source stream slower than this per second, over each sourceReadTimeout, is broken "
        "(then resumed; sourceRetries times at most): a trickling source cannot hold a build; 0 = off",
    ),
    c.Setting(
        "source_allow",
        "base.sourceAllow",
        [],
        "regexes of URLs the CDN may fetch, checked on every redirect hop; empty = any (v1)",
        parse=c.text_list,
    ),
    c.Setting(
        "source_retries",
        "base.sourceRetries",
        3,
        "times a broken source stream is resumed with Range",
        parse=c.in_range(0, 100),
    ),
    c.duration_setting(
        "super_load_reset", "base.superLoadReset", "30s", "a task's supernode load unchanged this long is reset"
    ),
    c.Setting(
        "api_token",
        "base.apiToken",
        "",
        "if set, state-changing management calls need 'Authorization: Bearer <token>'",
        parse=c.text,
    ),
    c.Setting(
        "preheat_allow",
        "base.preheatAllow",
        [],
        "regexes of URLs preheat may fetch, checked on every hop and registry token realm; empty = any",
        parse=c.text_list,
    ),
    c.duration_setting(
        "preheat_record_ttl",
        "base.preheatRecordTTL",
        "24h",
        "finished preheat records (and their output files) are removed after this",
    ),
    c.duration_setting("preheat_timeout", "base.preheatTimeout", "30m", "a preheat not finished after this fails"),
    c.Setting(
        "preheat_dfget_path",
        "base.preheatDfgetPath",
        "",
        "empty: preheat straight into the CDN in-process; else run this dfget binary",
        parse=c.text,
    ),
    c.Setting("log_path", "base.logConfig.path", "", "log file; empty = <homeDir>/logs/app.log", parse=c.text),
    c.size_setting("log_max_size", "base.logConfig.maxSize", "40M", "log size that triggers rotation"),
    c.Setting("log_max_backups", "base.logConfig.maxBackups", 1, "rotated logs kept", parse=c.in_range(0, 1000)),
]


def load(path: str = DEFAULT_CONFIG_PATH, explicit: bool = False, flags=None, env=None) -> c.Config:
    return c.load(SCHEMA, path=path, explicit_path=explicit, env=env, env_prefix=ENV_PREFIX, flags=flags)


def defaults(**overrides) -> c.Config:
    """Default settings without reading any file or environment (tests, embedding)."""
    return c.load(SCHEMA, env={}, flags=overrides)
