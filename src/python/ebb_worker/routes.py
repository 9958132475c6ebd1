"""uWSGI's internal routing, request chain: `route`, `route-uri`, `route-qs`, `route-host`,
`route-remote-addr`, `route-user-agent`, `route-referer`, `route-if`, `route-if-not`,
`route-run` and `route-label`, as uWSGI reads them, in the order written.

A rule is a subject (a request variable matched with a regular expression, or a condition) and
an action. Rules run top to bottom before the app (and before static files); an action either
lets the scan go on (`addheader`, `addvar`, `rewrite`, `log`, a `basicauth` that passed…),
stops it and runs the app (`last`, `continue`, `rewrite-last`), jumps (`goto`), or answers
itself (`redirect`, `return`, `break`, `static`, a `basicauth` that failed).

In an action's text, `$1`…`$9` are the groups of the rule's regular expression and `${VAR}` a
request variable (`${HTTP_HOST}`, `${REQUEST_URI}`, `${qs[name]}`, `${cookie[name]}`).

The master validates the option names, actions and conditions (so `--check-config` names the
file and line); this module compiles the expressions when the worker starts and runs them.
The options arrive in `EBB_ROUTES`, one `option<TAB>value` per line.
"""

import base64
import binascii
import hmac
import os
import re
import sys
import time
from http import HTTPStatus
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from . import static

SUBJECTS = {
    "route": "PATH_INFO",
    "route-uri": "REQUEST_URI",
    "route-qs": "QUERY_STRING",
    "route-host": "HTTP_HOST",
    "route-remote-addr": "REMOTE_ADDR",
    "route-user-agent": "HTTP_USER_AGENT",
    "route-referer": "HTTP_REFERER",
}

# What an action tells the scan.
NEXT, LAST, ANSWER, GOTO = range(4)


_VAR = re.compile(r"\$\{([^}]*)\}|\$([0-9])")


class RouteError(ValueError):
    """A rule that cannot run (a bad regular expression, a malformed action)."""


def expand(text, environ, groups):
    """`text` with `$N` and `${VAR}` replaced; unknown variables are empty, as in uWSGI."""
    if "$" not in text:
        return text

    def one(m):
        if m.group(2) is not None:
            n = int(m.group(2))
            if n == 0:
                return groups[0] if groups else ""
            return (groups[n] if groups and n < len(groups) else None) or ""
        name = m.group(1)
        if name.endswith("]") and "[" in name:
            kind, key = name[:-1].split("[", 1)
            if kind == "qs":
                return parse_qs(environ.get("QUERY_STRING", "")).get(key, [""])[0]
            if kind == "cookie":
                jar = SimpleCookie()
                try:
                    jar.load(environ.get("HTTP_COOKIE", ""))
                except Exception:
                    return ""
                c = jar.get(key)
                return c.value if c is not None else ""
            if kind == "time" and key == "unix":
                return str(int(time.time()))
            return ""
        value = environ.get(name, "")
        return value if isinstance(value, str) else ""
    return _VAR.sub(one, text)


def _pair(args, what):
    a, sep, b = args.partition(";")
    if not sep:
        raise RouteError("%s needs two values separated by ';' (e.g. %s:${HTTPS};on)"
                         % (what, what))
    return a, b


def _num(s):
    try:
        return float(s)
    except ValueError:
        return None


def _cmp(op):
    def check(a, b):
        x, y = _num(a), _num(b)
        return x is not None and y is not None and op(x, y)
    return check


# Conditions of route-if / route-if-not: name -> (arity, test). Arity 2 takes `a;b`.
CONDITIONS = {
    "equal": (2, lambda a, b: a == b),
    "isequal": (2, lambda a, b: a == b),
    "startswith": (2, lambda a, b: a.startswith(b)),
    "endswith": (2, lambda a, b: a.endswith(b)),
    "contains": (2, lambda a, b: b in a),
    "contain": (2, lambda a, b: b in a),
    "regexp": (2, None),   # compiled per rule
    "re": (2, None),
    "ishigher": (2, _cmp(lambda a, b: a > b)),
    "isgreater": (2, _cmp(lambda a, b: a > b)),
    "ishigherequal": (2, _cmp(lambda a, b: a >= b)),
    "isgreaterequal": (2, _cmp(lambda a, b: a >= b)),
    "islower": (2, _cmp(lambda a, b: a < b)),
    "isless": (2, _cmp(lambda a, b: a < b)),
    "islowerequal": (2, _cmp(lambda a, b: a <= b)),
    "islessequal": (2, _cmp(lambda a, b: a <= b)),
    "empty": (1, lambda a: a == ""),
    "exists": (1, lambda a: os.path.exists(a)),
    "isfile": (1, lambda a: os.path.isfile(a)),
    "isdir": (1, lambda a: os.path.isdir(a)),
    "islink": (1, lambda a: os.path.islink(a)),
}

ACTIONS = (
    "continue", "last", "break", "return", "redirect", "redirect-302", "redirect-permanent",
    "redirect-301", "rewrite", "rewrite-last", "addheader", "delheader", "remheader",
    "addvar", "setpathinfo", "setscriptname", "setmethod", "goto", "log", "static",
    "basicauth", "donotlog",
)


class Rule(object):
    __slots__ = ("option", "text", "subject", "regex", "cond", "negate", "cond_args",
                 "action", "arg", "label")

    def __init__(self, option, text):
        self.option, self.text = option, text
        self.subject = self.regex = self.cond = self.cond_args = self.label = None
        self.negate = False
        self.action = self.arg = None
        if option == "route-label":
            self.label = text.strip()
            return
        if option == "route-run":
            action = text.strip()
        else:
            head, _, action = text.strip().partition(" ")
            action = action.strip()
            if not action:
                raise RouteError("%s = %s: no action after the %s" % (
                    option, text, "condition" if option.startswith("route-if") else "pattern"))
            if option in ("route-if", "route-if-not"):
                name, _, args = head.partition(":")
                if name not in CONDITIONS:
                    raise RouteError("%s: unknown condition %r" % (option, name))
                arity, _ = CONDITIONS[name]
                self.cond, self.negate = name, option == "route-if-not"
                if arity == 2:
                    a, b = _pair(args, name)
                    if name in ("regexp", "re"):
                        self.regex = _compile(b, option, text)
                    self.cond_args = (a, b)
                else:
                    self.cond_args = (args,)
            else:
                self.subject = SUBJECTS[option]
                self.regex = _compile(head, option, text)
        name, _, arg = action.partition(":")
        if name not in ACTIONS:
            raise RouteError("%s = %s: unknown action %r" % (option, text, name))
        self.action, self.arg = name, arg

    def matches(self, environ):
        """The match groups (a tuple, maybe empty) when the rule applies, else None."""
        if self.option == "route-run":
            return ()
        if self.subject is not None:
            m = self.regex.search(environ.get(self.subject, "") or "")
            return (m.group(0),) + m.groups() if m else None
        args = [expand(a, environ, ()) for a in self.cond_args]
        if self.regex is not None:
            m = self.regex.search(args[0])
            hit = (m.group(0),) + m.groups() if m else None
        else:
            hit = () if CONDITIONS[self.cond][1](*args) else None
        if self.negate:
            return () if hit is None else None
        return hit


def _compile(pattern, option, text):
    try:
        return re.compile(pattern)
    except re.error as e:
        raise RouteError("%s = %s: bad regular expression %r: %s" % (option, text, pattern, e))


def _status(text):
    """`403`, `403 Forbidden` -> `403 Forbidden`."""
    code, _, reason = text.strip().partition(" ")
    if not code.isdigit() or len(code) != 3:
        raise RouteError("%r is not an HTTP status (write it as 403 or 403 Forbidden)" % text)
    if not reason.strip():
        try:
            reason = HTTPStatus(int(code)).phrase
        except ValueError:
            reason = "Unknown"
    return "%s %s" % (code, reason.strip())


class Router(object):
    """The app behind the routing rules."""

    def __init__(self, app, rules, log=None, headers=(), drop=()):
        self.app = app
        self.rules = rules
        # add-header / del-header: every response, whoever made it.
        self.headers = list(headers)
        self.drop = {h.lower() for h in drop}
        self.log = log or (lambda msg: sys.stderr.write(msg + "\n"))
        self.labels = {r.label: i for i, r in enumerate(rules) if r.label is not None}
        for r in rules:
            if r.action == "goto" and r.arg not in self.labels:
                raise RouteError("%s = %s: no route-label %r" % (r.option, r.text, r.arg))
            if r.action in ("return", "break") and r.arg:
                _status(r.arg)
            if r.action == "basicauth":
                _basicauth_spec(r)

    def __call__(self, environ, start_response):
        add, remove = list(self.headers), set(self.drop)
        i, steps = 0, 0
        while i < len(self.rules):
            steps += 1
            if steps > 10 * len(self.rules) + 100:
                # A goto loop: uWSGI spins; answer instead.
                self.log("routing: a goto loop in the route rules; answering 500")
                return _answer(start_response, "500 Internal Server Error", [], add, remove)
            r = self.rules[i]
            i += 1
            if r.label is not None:
                continue
            groups = r.matches(environ)
            if groups is None:
                continue
            arg = expand(r.arg, environ, groups)
            verdict = self._act(r, arg, environ, start_response, add, remove)
            if verdict is None or verdict == NEXT:
                continue
            if verdict == LAST:
                break
            if verdict == GOTO:
                i = self.labels[r.arg]
                continue
            return verdict[1]
        if not add and not remove:
            return self.app(environ, start_response)

        def start(status, headers, exc_info=None):
            headers = [h for h in headers if h[0].lower() not in remove] + add
            return start_response(status, headers, exc_info) if exc_info else \
                start_response(status, headers)
        return self.app(environ, start)

    def _act(self, r, arg, environ, start_response, add, remove):
        a = r.action
        if a in ("continue", "last"):
            return LAST
        if a == "goto":
            return GOTO
        if a == "addheader":
            name, sep, value = arg.partition(":")
            if sep:
                add.append((name.strip(), value.strip()))
            return NEXT
        if a in ("delheader", "remheader"):
            remove.add(arg.strip().lower())
            return NEXT
        if a == "addvar":
            k, _, v = arg.partition("=")
            environ[k] = v
            return NEXT
        if a == "setpathinfo":
            environ["PATH_INFO"] = arg
            return NEXT
        if a == "setscriptname":
            environ["SCRIPT_NAME"] = arg
            return NEXT
        if a == "setmethod":
            environ["REQUEST_METHOD"] = arg
            return NEXT
        if a == "log":
            self.log(arg)
            return NEXT
        if a == "donotlog":
            environ["ebb.donotlog"] = True
            return NEXT
        if a in ("rewrite", "rewrite-last"):
            path, sep, qs = arg.partition("?")
            environ["PATH_INFO"] = path
            if sep:
                environ["QUERY_STRING"] = qs
            return LAST if a == "rewrite-last" else NEXT
        if a in ("redirect", "redirect-302", "redirect-permanent", "redirect-301"):
            status = "302 Found" if a in ("redirect", "redirect-302") else "301 Moved Permanently"
            return ANSWER, _answer(start_response, status, [("Location", arg)], add, remove,
                                   environ)
        if a in ("return", "break"):
            status = _status(arg) if arg else "404 Not Found"
            return ANSWER, _answer(start_response, status, [], add, remove, environ)
        if a == "static":
            return ANSWER, _static(environ, start_response, arg, add, remove)
        if a == "basicauth":
            realm, users = _basicauth_spec(r)
            user = _authorized(environ, users)
            if user is not None:
                environ["REMOTE_USER"] = user     # as uWSGI does; the access log shows it
                return NEXT
            return ANSWER, _answer(start_response, "401 Unauthorized",
                                   [("WWW-Authenticate", 'Basic realm="%s"' % realm)], add, remove,
                                   environ)
        raise AssertionError(a)


def _answer(start_response, status, headers, add, remove, environ=None):
    """A response made by a rule: the status line as a short text body (none for a
    redirect, a 204 or 304, or a HEAD request)."""
    body = b"" if status[:3] in ("204", "304", "301", "302") else status.encode("latin-1") + b"\n"
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))] + headers
    if status[:3] in ("204", "304"):
        headers = headers[2:]
    start_response(status, [h for h in headers if h[0].lower() not in remove] + add)
    if environ is not None and environ.get("REQUEST_METHOD") == "HEAD":
        return []
    return [body]


def _static(environ, start_response, path, add, remove):
    try:
        f = open(path, "rb")
    except OSError:
        return _answer(start_response, "404 Not Found", [], add, remove)
    try:
        st = os.fstat(f.fileno())
        if not os.path.isfile(path):
            f.close()
            return _answer(start_response, "404 Not Found", [], add, remove)
        headers = [("Content-Type", static.content_type(path)),
                   ("Content-Length", str(st.st_size)),
                   ("Last-Modified", static.http_date(st.st_mtime))]
        start_response("200 OK", [h for h in headers if h[0].lower() not in remove] + add)
    except BaseException:
        f.close()
        raise
    if environ.get("REQUEST_METHOD") == "HEAD":
        f.close()
        return []
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, 65536)
    try:
        return [f.read()]
    finally:
        f.close()


def _basicauth_spec(r):
    """`realm,user:password` -> (realm, {user: password})."""
    realm, sep, cred = r.arg.partition(",")
    if not sep or ":" not in cred:
        raise RouteError("%s = %s: write basicauth as basicauth:Realm,user:password "
                         "(htpasswd files are not read by ebb)" % (r.option, r.text))
    user, _, password = cred.partition(":")
    return realm, {user: password}


def _authorized(environ, users):
    """The user named by valid Basic credentials, else None."""
    h = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = h.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode(
            "utf-8", "replace").partition(":")
    except (binascii.Error, ValueError):
        return None
    if sep and user in users and hmac.compare_digest(users[user].encode(), password.encode()):
        return user
    return None


def parse(lines):
    """`option<TAB>value` lines -> (rules, headers to add, headers to remove)."""
    rules, headers, drop = [], [], []
    for line in lines:
        option, sep, value = line.partition("\t")
        if not sep:
            raise RouteError("malformed EBB_ROUTES line %r" % line)
        if option == "add-header":
            name, _, v = value.partition(":")
            headers.append((name.strip(), v.strip()))
        elif option == "del-header":
            drop.append(value.strip())
        else:
            rules.append(Rule(option, value))
    return rules, headers, drop


def from_env(app, env, log=None):
    """`app` behind the rules in `EBB_ROUTES` (the master sets it); `app` itself when none."""
    lines = [l for l in env.get("EBB_ROUTES", "").split("\n") if l.strip()]
    if not lines:
        return app
    rules, headers, drop = parse(lines)
    return Router(app, rules, log, headers, drop)
