"""Access records: one per request, written by the serving thread once the response is sent.

Which requests get one is decided here, before anything is built (EBB_LOG_REQUESTS, and with
it off EBB_LOG_4XX / EBB_LOG_5XX / EBB_LOG_SLOW_MS); a record not written costs a comparison.
The record is one line on EBB_LOG_FD in the compact access form (docs/protocol.md, "Log
records"), or without it a plain text line on stderr."""

import os
import struct
import sys
from json.encoder import encode_basestring_ascii as _q

from . import logs


def _flag(name, default):
    v = os.environ.get(name, "").strip().lower()
    if not v:
        return default
    return v not in ("0", "false", "no", "off")


def _slow_ms():
    v = os.environ.get("EBB_LOG_SLOW_MS", "").strip()
    if not v:
        return None
    try:
        return int(float(v) * 1000)          # microseconds
    except ValueError:
        sys.stderr.write("%signoring EBB_LOG_SLOW_MS=%r (not a number)\n" % (logs._log_prefix, v))
        return None


def _names(var):
    return [n.strip().lower() for n in os.environ.get(var, "").split(",") if n.strip()]


ALL = _flag("EBB_LOG_REQUESTS", True)
LOG_4XX = _flag("EBB_LOG_4XX", False)
LOG_5XX = _flag("EBB_LOG_5XX", False)
SLOW_US = _slow_ms()
# True when some request may get a record (then the serving threads take its timestamps).
ON = ALL or LOG_4XX or LOG_5XX or SLOW_US is not None
XFF = _flag("EBB_LOG_XFF", False)
MEMORY = _flag("EBB_LOG_MEMORY", False)


def _env_key(name):
    up = name.upper().replace("-", "_")
    return up if up in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + up


REQ_HEADERS = [(n, _env_key(n)) for n in _names("EBB_LOG_REQ_HEADERS")]
RESP_HEADERS = frozenset(_names("EBB_LOG_RESP_HEADERS"))
ENV_KEYS = [k.strip() for k in os.environ.get("EBB_LOG_ENV", "").split(",") if k.strip()]

_statm = None
_PAGE = 4096
if MEMORY:
    try:
        _statm = os.open("/proc/self/statm", os.O_RDONLY)
        _PAGE = os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        _statm = None


def _memory():
    """(rss, vsz) in bytes, or None."""
    if _statm is not None:
        try:
            f = os.pread(_statm, 128, 0).split()
            return int(f[1]) * _PAGE, int(f[0]) * _PAGE
        except (OSError, ValueError, IndexError):
            return None
    try:
        import resource
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss * (1 if sys.platform == "darwin" else 1024), 0
    except Exception:
        return None


# A record (docs/protocol.md, "Log records") is one line of tab-separated fields, the compact
# form of an access record: "x", then the numbers in one field of fixed-width hex (status,
# size, head size, start and end in Unix nanoseconds, request count: struct.pack + hex(), about
# half the time of formatting them in decimal, and no division), then the strings, each a
# JSON string's text without its quotes (so it holds no tab, newline or raw control
# character), then optionally a JSON object of the extra fields.  The strings that repeat
# from request to request (client, user, method, protocol, host, referer, user agent; the
# uri) are formatted once per value and cached.
_FIXED = "\t".join(["%s"] * 7) + "\t"
_NUMS = struct.Struct(">HQIQQQ").pack
_VARYING = "a\t%d\t%d\t%d\t%d\t%d\t%d\t"       # the decimal form (a number out of range)
_EXTRA = bool(REQ_HEADERS or RESP_HEADERS or ENV_KEYS or MEMORY)
_fixed_cache = {}       # (addr, user, method, proto, host, referer, ua) -> _FIXED formatted


def _s(v):
    """A string field: its JSON escapes, no quotes."""
    return _q(v)[1:-1]


def _fixed(key):
    text = _FIXED % tuple(_s(v or "") for v in key)
    if len(_fixed_cache) >= 256:
        _fixed_cache.clear()
    if len(text) < 2048:
        _fixed_cache[key] = text
    return text


def _obj(pairs):
    return "{" + ",".join("%s:%s" % (_q(k), _q(v)) for k, v in pairs) + "}"


def _extra(env, headers):
    """The extra fields as the members of a JSON object (`"rh":{..},"rss":1`), or ""."""
    out = []
    if REQ_HEADERS:
        out.append('"rh":' + _obj((n, env[k]) for n, k in REQ_HEADERS if k in env))
    if RESP_HEADERS:
        pairs = []
        try:
            for name, value in headers or ():
                if name.lower() in RESP_HEADERS:
                    pairs.append((name.lower(), str(value)))
        except (TypeError, ValueError, AttributeError):
            pass
        out.append('"oh":' + _obj(pairs))
    if ENV_KEYS:
        out.append('"env":' + _obj((k, str(env[k])) for k in ENV_KEYS if k in env))
    if MEMORY:
        m = _memory()
        if m is not None:
            out.append('"rss":%d,"vsz":%d' % m)
    return ",".join(out)


def _uri(uri):
    """The uri as a string field (cached: most requests repeat a few)."""
    u = _q(uri)[1:-1]
    if len(_uri_cache) >= 512:
        _uri_cache.clear()
    if len(uri) < 512:
        _uri_cache[uri] = u
    return u


_uri_cache = {}
_deferred = logs._deferred          # the queue of records (str lines; see logs.defer_record)
_queued = logs._deferred_bytes
_armed = logs._flusher_armed
_QUEUE_MAX = logs.QUEUE_MAX


def record(env, ctx, start_ns, end_ns, req, uri):
    """Queue the access record of the request ctx just served, if the filters want it.
    start_ns: when its head was read, end_ns: when its response was sent (time.time_ns())."""
    if "ebb.donotlog" in env:       # the routing action donotlog:
        return
    status = ctx.err_status
    if not status and ctx.head_sent:
        status = _CODES.get(ctx.status) or _code(ctx.status)
    if not ALL:
        if not ((LOG_4XX and 400 <= status < 500) or (LOG_5XX and 500 <= status < 600)
                or (SLOW_US is not None and end_ns - start_ns >= SLOW_US * 1000)):
            return
    get = env.get
    addr = get("REMOTE_ADDR")
    if XFF:
        xff = get("HTTP_X_FORWARDED_FOR")
        if xff:
            addr = xff.split(",", 1)[0].strip()
    if logs._fd is None:
        _text(addr, env["REQUEST_METHOD"], uri, get("SERVER_PROTOCOL") or "", status, ctx.sent,
              max(0, end_ns - start_ns) // 1000, req, get("REMOTE_USER") or "-")
        return
    key = (addr, get("REMOTE_USER"), env["REQUEST_METHOD"], get("SERVER_PROTOCOL"),
           get("HTTP_HOST"), get("HTTP_REFERER"), get("HTTP_USER_AGENT"))
    fixed = _fixed_cache.get(key) or _fixed(key)
    u = _uri_cache.get(uri) or _uri(uri)
    if _EXTRA:
        extra = _extra(env, ctx.headers)
        if extra:
            u += "\t{" + extra + "}"
    try:
        line = f"x\t{_NUMS(status, ctx.sent, ctx.hsize, start_ns, end_ns, req).hex()}\t{fixed}{u}\n"
    except struct.error:             # a clock before 1970, a head over 4 GiB: the decimal form
        line = _decimal(ctx, status, start_ns, end_ns, req) + fixed + u + "\n"
    n = len(line)
    if n > logs.MAX_RECORD:
        line = _cut(addr, env, ctx, status, start_ns, end_ns, req, uri)
        n = len(line)
    # logs.defer_record, inline (the hot path): queued as str, encoded once per batch.
    _deferred.append(line)
    _queued[0] += n
    if _queued[0] >= _QUEUE_MAX or not _armed[0]:
        logs.queued()


def _decimal(ctx, status, start_ns, end_ns, req):
    """The numbers of the decimal ("a") form, clamped to what it can say."""
    return _VARYING % (min(max(status, 0), 65535), ctx.sent, ctx.hsize,
                       max(0, start_ns // 1000), max(0, end_ns - start_ns) // 1000, req)


def _cut(addr, env, ctx, status, start_ns, end_ns, req, uri):
    """The record of a request whose record would be over logs.MAX_RECORD: cut, and said."""
    fixed = _fixed(((addr or "")[:100], "", env["REQUEST_METHOD"][:100], "", "", "", ""))
    return (_decimal(ctx, status, start_ns, end_ns, req) + fixed + _s(uri[:2000] + "...")
            + '\t{"truncated":true}\n')


_CODES = {}      # status line -> its code (bounded)


def _code(status):
    """The code of a status line the app sent ("404 Not Found" -> 404); 0 if it has none."""
    try:
        code = int(status[:3])
    except (TypeError, ValueError):
        return 0
    if len(_CODES) < 1000:
        _CODES[status] = code
    return code


def _text(addr, method, uri, proto, status, size, us, req, user):
    """Without EBB_LOG_FD: one plain line on stderr."""
    line = '%s %s "%s %s %s" %d %d bytes in %.3f ms (req %d)' % (
        addr or "-", user, method, uri, proto, status, size, us / 1000.0, req)
    logs.log(line.replace("\n", "\\n").replace("\r", "\\r"))
