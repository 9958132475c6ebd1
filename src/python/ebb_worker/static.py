"""Static files (uWSGI's static-map, static-map2, check-static, static-index, static-safe,
static-expires-*, static-gzip*), served in front of the WSGI application without entering it.

`StaticFiles(app, ...)` is a WSGI application: a request for a mapped file is answered here
(GET and HEAD; Content-Type by extension, Last-Modified, If-Modified-Since -> 304, a single
byte Range -> 206 or 416, a precompressed `.gz` when the client accepts gzip and that is
asked for, a directory's index file); anything else goes to `app`. The body is a
`wsgi.file_wrapper`, which the worker sends with `os.sendfile` and bounds by Content-Length, so a
range is a seek plus a shorter Content-Length.

No way out of a mapped folder: the path is decoded once (PATH_INFO), a `..` or `.` segment, a
NUL or a backslash is refused, and the real path of the file (symlinks resolved) must lie in the
real path of the folder — or in a `static-safe` folder.

A file found is remembered per URL path (its real path, identity, type and date), so a request
for it again costs an open and an fstat; the remembered answer is used only while the file
opened is the same one (device, inode, size, mtime, ctime) that passed the checks, and, for a
path through a symlink, while the path still leads to it.
"""

import email.utils
import io
import mimetypes
import os
import re
import stat
import time
import weakref

# Content types from Python's own table only: the same answers on every machine, whatever
# /etc/mime.types holds.
_TYPES = mimetypes.MimeTypes(filenames=())
_TYPES.add_type("text/javascript", ".mjs")
_TYPES.add_type("application/wasm", ".wasm")
_TYPES.add_type("image/webp", ".webp")
_TYPES.add_type("font/woff2", ".woff2")
_TYPES.add_type("font/woff", ".woff")
_TEXT = ("text/", "application/javascript", "application/json", "application/xml",
         "image/svg+xml")

_FileIO = io.FileIO
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_type(path):
    ctype, _ = _TYPES.guess_type(path, strict=False)
    if ctype is None:
        return "application/octet-stream"
    if ctype.startswith(_TEXT) and "charset" not in ctype:
        return ctype + "; charset=utf-8"
    return ctype


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(value):
    try:
        t = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if t is None:
        return None
    return t.timestamp()


def safe_segments(path_info):
    """The path's segments if it is a clean absolute path, else None."""
    if not path_info.startswith("/") or "\0" in path_info or "\\" in path_info:
        return None
    parts = [p for p in path_info.split("/") if p != ""]
    if any(p in (".", "..") for p in parts):
        return None
    return parts


def byte_range(value, size):
    """One `bytes=first-last` range of a `size`-byte file: (start, end) inclusive,
    "unsatisfiable", or None to send the whole file (several ranges, another unit, or an
    invalid spec, which RFC 9110 says to ignore)."""
    m = _RANGE.match(value.strip())
    if m is None or (m.group(1) == "" and m.group(2) == ""):
        return None
    first, last = m.group(1), m.group(2)
    if first == "":                       # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    end = size - 1 if last == "" else min(int(last), size - 1)
    return start, end


def within(real, folder):
    return real == folder or real.startswith(folder.rstrip("/") + "/")


class Mapping(object):
    """One URL prefix -> one folder. `keep_prefix` (static-map2, check-static) appends the
    whole path to the folder; otherwise the prefix is replaced by the folder."""

    def __init__(self, prefix, folder, keep_prefix=False):
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else "/"
        self.folder = os.path.realpath(folder)
        self.keep_prefix = keep_prefix
        self.pre = [p for p in self.prefix.split("/") if p]

    def candidate(self, parts):
        pre = self.pre
        if parts[:len(pre)] != pre:
            return None
        rest = parts if self.keep_prefix else parts[len(pre):]
        return os.path.join(self.folder, *rest) if rest else self.folder


def parse_map(spec):
    """`/prefix=/folder` (uWSGI's syntax) -> (prefix, folder)."""
    prefix, sep, folder = spec.partition("=")
    if not sep or not folder:
        raise ValueError("static-map %r: write it as /url-prefix=/folder" % spec)
    return prefix, folder


def parse_expires(spec):
    """uWSGI's `REGEXP SECONDS` -> (compiled pattern, seconds)."""
    parts = spec.strip().rsplit(None, 1)
    if len(parts) != 2 or not parts[1].isdigit():
        raise ValueError("static-expires %r: write it as a regular expression, a space and "
                         "seconds (\\.png$ 604800)" % spec)
    try:
        return re.compile(parts[0]), int(parts[1])
    except re.error as e:
        raise ValueError("static-expires %r: bad regular expression: %s" % (spec, e))


class StaticFiles(object):
    def __init__(self, app, maps=(), maps2=(), check=(), index=(), safe=(), gzip=False,
                 expires_type=(), expires=(), expires_uri=()):
        self.app = app
        self.mappings = ([Mapping(p, f) for p, f in maps]
                         + [Mapping(p, f, keep_prefix=True) for p, f in maps2]
                         + [Mapping("/", f, keep_prefix=True) for f in check])
        # Longest prefix first, as uWSGI tries the most specific mapping first.
        self.mappings.sort(key=lambda m: -len(m.prefix))
        self.index = list(index)
        self.safe = [os.path.realpath(s) for s in safe]
        self.gzip = gzip
        self.expires_type = dict(expires_type)          # content type -> seconds
        self.expires = list(expires)                    # (regex on the file path, seconds)
        self.expires_uri = list(expires_uri)            # (regex on the request URI, seconds)
        self._dates = {}
        # PATH_INFO -> _Hit of a file found before: a request for it costs one open and one
        # fstat instead of a realpath (an lstat per path component) and a MIME lookup. The hit
        # is used only while the file opened by its checked real path is the same file
        # (device, inode, size, mtime, ctime) and, when the URL's path went through a
        # symlink, while that path still leads to it; anything else takes the full lookup.
        self._hits = {}
        # The HTTP layer answers a plain GET or HEAD of a remembered file itself (fast_hit):
        # only when no option changes the answer from request to request.
        self.fast = not (gzip or self.expires_type or self.expires or self.expires_uri)
        # A URL not under any mapping goes to the app without a look at the disk.
        self._prefixes = tuple("/" if m.prefix == "/" else m.prefix + "/"
                               for m in self.mappings) + tuple(m.prefix for m in self.mappings)

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if (method != "GET" and method != "HEAD") or not self.mappings:
            return self.app(environ, start_response)
        path_info = environ.get("PATH_INFO", "")
        if not path_info.startswith(self._prefixes):
            return self.app(environ, start_response)
        hit, f = self._open(path_info)
        if hit is None:
            return self.app(environ, start_response)
        return self.respond(environ, start_response, hit, f)

    def fast_hit(self, env):
        """For the HTTP layer, before the app machinery: the remembered _Hit that answers
        this request as a plain 200 (GET or HEAD of the whole file: no Range, no
        If-Modified-Since, no gzip or expiry options), checked again against the disk (one
        stat), or None: the request takes the WSGI path (which also remembers the file for
        next time)."""
        if not self.fast:
            return None
        hit = self._hits.get(env["PATH_INFO"])
        if hit is None or "HTTP_RANGE" in env or "HTTP_IF_MODIFIED_SINCE" in env:
            return None
        if not hit.current():
            return None
        return hit

    def _open(self, path_info):
        """(_Hit, open file) for this URL path, or (None, None)."""
        hit = self._hits.get(path_info)
        if hit is not None:
            f = hit.reopen()
            if f is not None:
                return hit, f
            self._hits.pop(path_info, None)
        found = self.find(path_info)
        if found is None:
            return None, None
        cand, real, st, first = found
        hit = _Hit(cand, real, st, self._last_modified(int(st.st_mtime)))
        f = hit.reopen()
        if f is None:
            return None, None
        # Cached only when no other mapping came first (a file created there later must win).
        if first:
            if len(self._hits) >= 4096:
                self._hits.clear()
            self._hits[path_info] = hit
        return hit, f

    def find(self, path_info):
        """(path asked, real path, stat, first) of the file to serve, or None (the app
        answers); `first` when no earlier mapping had a candidate for this path."""
        parts = safe_segments(path_info)
        if parts is None:
            return None
        first = True
        for m in self.mappings:
            cand = m.candidate(parts)
            if cand is None:
                continue
            hit = self._regular(cand, m.folder)
            if hit is None and self.index:
                for name in self.index:
                    hit = self._regular(os.path.join(cand, name), m.folder)
                    if hit is not None:
                        cand = os.path.join(cand, name)
                        break
            if hit is not None:
                return (cand,) + hit + (first,)
            first = False
        return None

    def _regular(self, cand, folder):
        try:
            real = os.path.realpath(cand)
            st = os.stat(real)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        if not within(real, folder) and not any(within(real, s) for s in self.safe):
            return None
        return real, st

    def _last_modified(self, mtime):
        s = self._dates.get(mtime)
        if s is None:
            if len(self._dates) > 1024:
                self._dates.clear()
            s = self._dates[mtime] = http_date(mtime)
        return s

    def _max_age(self, environ, path, ctype):
        base = ctype.split(";", 1)[0]
        if base in self.expires_type:
            return self.expires_type[base]
        for pat, secs in self.expires:
            if pat.search(path):
                return secs
        uri = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
        for pat, secs in self.expires_uri:
            if pat.search(uri):
                return secs
        return None

    @staticmethod
    def _encoded(headers):
        return any(h[0] == "Content-Encoding" for h in headers)

    def _gzip(self, hit):
        """The precompressed `FILE.gz` next to the file (and as new), or None."""
        gz = hit.gz
        if gz is not None:
            f = gz.reopen()
            if f is not None:
                return gz, f
            hit.gz = None
        found = self._regular(hit.real + ".gz", os.path.dirname(hit.real))
        if found is None or found[1].st_mtime < hit.mtime:
            return None
        gz = _Hit(found[0], found[0], found[1], hit.last_modified)
        f = gz.reopen()
        if f is not None:
            hit.gz = gz
            return gz, f
        return None

    def respond(self, environ, start_response, hit, f):
        try:
            return self._respond(environ, start_response, hit, f)
        except BaseException:
            f.close()
            raise

    def _respond(self, environ, start_response, hit, f):
        ctype = hit.ctype
        headers = [("Content-Type", ctype), ("Last-Modified", hit.last_modified),
                   ("Accept-Ranges", "bytes")]
        if self.expires_type or self.expires or self.expires_uri:
            age = self._max_age(environ, hit.real, ctype)
            if age is not None:
                headers.append(("Cache-Control", "max-age=%d" % age))
                headers.append(("Expires", http_date(time.time() + age)))
        size = hit.size
        encoded = False
        if self.gzip:
            headers.append(("Vary", "Accept-Encoding"))
            if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
                gz = self._gzip(hit)
                if gz is not None:
                    f.close()
                    f, size, encoded = gz[1], gz[0].size, True
                    headers.append(("Content-Encoding", "gzip"))
        since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if since and "HTTP_RANGE" not in environ:
            if since == hit.last_modified:
                t = hit.mtime
            else:
                t = parse_http_date(since)
            if t is not None and hit.mtime <= t:
                f.close()
                start_response("304 Not Modified", [h for h in headers if h[0] != "Content-Type"])
                return []
        start, length, status = 0, size, "200 OK"
        rng = environ.get("HTTP_RANGE")
        span = None if rng is None or encoded else byte_range(rng, size)
        if span == "unsatisfiable":
            f.close()
            start_response("416 Range Not Satisfiable",
                           [("Content-Range", "bytes */%d" % size), ("Content-Length", "0")])
            return []
        if span is not None:
            start, end = span
            length = end - start + 1
            status = "206 Partial Content"
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        headers.append(("Content-Length", str(length)))
        if environ.get("REQUEST_METHOD") == "HEAD":
            f.close()
            start_response(status, headers)
            return []
        if start:
            f.seek(start)
        start_response(status, headers)
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(f, 65536)
        return _Chunks(f, length)


# What the fast path keeps in memory: the bytes of files up to SMALL (at most KEEP_BYTES
# in all), and an open file for larger ones (at most KEEP_FILES), so that a request costs a
# stat and a send (small) or a stat, a send and a sendfile (large).
SMALL = 32768
KEEP_BYTES = 8 << 20
KEEP_FILES = 64
_kept = [0, 0]        # [bytes kept, files kept open]


class _Hit(object):
    """A file found for a URL path: where it is, what it was when checked, its headers;
    for the HTTP layer's fast path, its 200 head and its bytes (small) or open file."""
    __slots__ = ("cand", "real", "ident", "size", "mtime", "ctype", "last_modified", "gz",
                 "head", "data", "file", "__weakref__")

    def __init__(self, cand, real, st, last_modified):
        self.cand = cand if cand != real else None
        self.real = real
        self.ident = _ident(st)
        self.size = st.st_size
        self.mtime = int(st.st_mtime)
        self.ctype = content_type(real)
        self.last_modified = last_modified
        self.gz = None
        # "HTTP/1.1 200 OK" and the headers that do not change (the caller adds Date,
        # Connection and the blank line).
        self.head = ("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nLast-Modified: %s\r\n"
                     "Accept-Ranges: bytes\r\nContent-Length: %d\r\n"
                     % (self.ctype, last_modified, self.size)).encode("latin-1")
        self.data = None      # the file's bytes (small files, once the fast path used it)
        self.file = None      # the file, open (large files, likewise)

    def current(self):
        """The path (and the path asked, through a symlink) still leads to the file checked:
        same device, inode, size, mtime and ctime. A file written in place changes its
        mtime and ctime, a file replaced its inode: either way the hit is not used (and the
        WSGI path looks the file up again)."""
        try:
            if _ident(os.stat(self.real)) != self.ident:
                return False
            return self.cand is None or _ident(os.stat(self.cand)) == self.ident
        except (OSError, ValueError):
            return False

    def body(self):
        """(bytes, None) for a small file, (None, open file) for a large one, or (None, None)
        when it cannot be kept (the caller opens it for this request). What is kept is read
        or opened once and checked to be the file of `ident` (by fstat of what was opened)."""
        if self.data is not None or self.file is not None:
            return self.data, self.file
        small = self.size <= SMALL
        if (small and _kept[0] + self.size > KEEP_BYTES) or (not small and _kept[1] >= KEEP_FILES):
            return None, None
        f = self.reopen()
        if f is None:
            return None, None
        if not small:
            self.file = f
            _kept[1] += 1
            weakref.finalize(self, _forget_file)
            return None, f
        try:
            data = os.pread(f.fileno(), self.size + 1, 0)
        except OSError:
            data = None
        finally:
            f.close()
        if data is None or len(data) != self.size:
            return None, None
        self.data = data
        _kept[0] += self.size
        weakref.finalize(self, _forget_bytes, self.size)
        return data, None

    def reopen(self):
        """The file, opened by its real path, if it is still the one checked; else None."""
        try:
            f = _FileIO(self.real)           # unbuffered: the worker sends it by its fd
        except OSError:
            return None
        try:
            if _ident(os.fstat(f.fileno())) == self.ident and (
                    self.cand is None or _ident(os.stat(self.cand)) == self.ident):
                return f
        except OSError:
            pass
        f.close()
        return None


def _forget_bytes(n):
    _kept[0] -= n


def _forget_file():
    _kept[1] -= 1


def _ident(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Chunks(object):
    """A file's bytes in blocks, at most `left` of them (no wsgi.file_wrapper)."""

    def __init__(self, f, left):
        self.f, self.left = f, left

    def __iter__(self):
        while self.left > 0:
            data = self.f.read(min(65536, self.left))
            if not data:
                break
            self.left -= len(data)
            yield data

    def close(self):
        self.f.close()


def from_env(app, env):
    """Wrap `app` as `EBB_STATIC_*` variables ask (set by the master from the static-*
    options; each a list separated by newlines); `app` itself when none is set."""
    def lines(key):
        return [l for l in env.get(key, "").split("\n") if l.strip()]
    maps = [parse_map(s) for s in lines("EBB_STATIC_MAP")]
    maps2 = [parse_map(s) for s in lines("EBB_STATIC_MAP2")]
    check = lines("EBB_STATIC_CHECK")
    if not (maps or maps2 or check):
        return app
    expires_type = []
    for spec in lines("EBB_STATIC_EXPIRES_TYPE"):
        t, sep, secs = spec.rpartition("=")
        if not sep or not secs.strip().isdigit():
            raise ValueError("static-expires-type %r: write it as content/type=seconds" % spec)
        expires_type.append((t.strip(), int(secs)))
    return StaticFiles(
        app, maps=maps, maps2=maps2, check=check,
        index=lines("EBB_STATIC_INDEX"), safe=lines("EBB_STATIC_SAFE"),
        gzip=env.get("EBB_STATIC_GZIP", "") == "1",
        expires_type=expires_type,
        expires=[parse_expires(s) for s in lines("EBB_STATIC_EXPIRES")],
        expires_uri=[parse_expires(s) for s in lines("EBB_STATIC_EXPIRES_URI")])
