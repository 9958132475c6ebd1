"""Unit tests of the routing layer (src/python/ebb_worker/routes.py): subjects, conditions,
actions, placeholders, goto, header changes; WSGI calls made directly (tests/routes.rs serves
the same through ebb over real sockets).

    python3 -m unittest discover -s tests/python -v
"""

import base64
import os
import re
import shutil
import sys
import tempfile
import unittest

from launch import PYDIR, ROOT

sys.path.insert(0, PYDIR)
from ebb_worker import routes  # noqa: E402


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Server", "app")])
    return [("app saw %s?%s %s" % (environ.get("PATH_INFO"), environ.get("QUERY_STRING", ""),
                                   environ.get("X_TAG", ""))).encode()]


def router(*lines, log=None):
    rules, headers, drop = routes.parse(lines)
    return routes.Router(app, rules, log, headers, drop)


def call(r, path="/", qs="", **env):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": qs,
               "REQUEST_URI": path + ("?" + qs if qs else ""), "HTTP_HOST": "example.com"}
    environ.update(env)
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers
    body = b"".join(r(environ, start_response))
    return got["status"], dict(got["headers"]), body


class RoutesTest(unittest.TestCase):
    def test_no_rule_matches_the_app_answers(self):
        s, h, b = call(router("route\t^/admin return:403"), "/shop")
        self.assertEqual((s, b), ("200 OK", b"app saw /shop? "))

    def test_return_and_break_answer_with_a_status(self):
        r = router("route\t^/admin return:403", "route\t^/gone break:410 Gone Forever",
                   "route\t^/closed break:")
        self.assertEqual(call(r, "/admin/x")[0], "403 Forbidden")
        self.assertEqual(call(r, "/gone")[0], "410 Gone Forever")
        self.assertEqual(call(r, "/closed")[0], "404 Not Found")

    def test_redirects_expand_groups_and_variables(self):
        r = router("route\t^/old/(.*)$ redirect-permanent:https://${HTTP_HOST}/new/$1",
                   "route-uri\t^/tmp redirect:/elsewhere?from=${qs[from]}")
        s, h, _ = call(r, "/old/a/b")
        self.assertEqual((s, h["Location"]), ("301 Moved Permanently", "https://example.com/new/a/b"))
        s, h, _ = call(r, "/tmp", "from=x&y=1")
        self.assertEqual((s, h["Location"]), ("302 Found", "/elsewhere?from=x"))

    def test_the_first_answer_wins_and_last_stops_the_scan(self):
        r = router("route\t^/health continue:", "route\t.* return:503")
        self.assertEqual(call(r, "/health")[0], "200 OK")
        self.assertEqual(call(r, "/other")[0], "503 Service Unavailable")

    def test_rewrite_goes_on_and_rewrite_last_stops(self):
        r = router("route\t^/a(.*) rewrite:/b$1?x=1", "route\t^/b addvar:X_TAG=seen-b")
        self.assertEqual(call(r, "/a/z")[2], b"app saw /b/z?x=1 seen-b")
        r = router("route\t^/a(.*) rewrite-last:/b$1", "route\t^/b return:500")
        self.assertEqual(call(r, "/a/z")[2], b"app saw /b/z? ")

    def test_headers_are_added_and_removed_on_app_and_routing_answers(self):
        r = router("add-header\tX-Content-Type-Options: nosniff", "del-header\tServer",
                   "route\t^/static/ addheader:Content-Security-Policy: sandbox",
                   "route\t^/deny return:403")
        _, h, _ = call(r, "/static/x.css")
        self.assertEqual(h["Content-Security-Policy"], "sandbox")
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertNotIn("Server", h)
        _, h, _ = call(r, "/deny")
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertNotIn("Content-Security-Policy", h)

    def test_subjects(self):
        r = router("route-host\t^www\\. redirect-permanent:https://example.com${REQUEST_URI}",
                   "route-user-agent\tBadBot break:403",
                   "route-remote-addr\t^10\\. addvar:X_TAG=internal",
                   "route-referer\tspam break:451",
                   "route-qs\tdebug=1 return:400")
        s, h, _ = call(r, "/p", "q=1", HTTP_HOST="www.example.com")
        self.assertEqual(h["Location"], "https://example.com/p?q=1")
        self.assertEqual(call(r, HTTP_USER_AGENT="BadBot/1.0")[0], "403 Forbidden")
        self.assertEqual(call(r, REMOTE_ADDR="10.1.2.3")[2], b"app saw /? internal")
        self.assertEqual(call(r, HTTP_REFERER="http://spam.example")[0], "451 Unavailable For Legal Reasons")
        self.assertEqual(call(r, "/", "debug=1")[0], "400 Bad Request")
        self.assertEqual(call(r, "/", "x=1", REMOTE_ADDR="192.168.0.1")[0], "200 OK")

    def test_conditions(self):
        r = router("route-if\tequal:${HTTP_X_FORWARDED_PROTO};http "
                   "redirect-permanent:https://${HTTP_HOST}${REQUEST_URI}",
                   "route-if-not\tempty:${HTTP_X_TOKEN} addvar:X_TAG=token",
                   "route-if\tregexp:${PATH_INFO};^/v([0-9]+)/ addvar:X_TAG=v$1",
                   "route-if\tishigher:${CONTENT_LENGTH};100 return:413")
        _, h, _ = call(r, "/a", HTTP_X_FORWARDED_PROTO="http")
        self.assertEqual(h["Location"], "https://example.com/a")
        self.assertEqual(call(r, "/a", HTTP_X_FORWARDED_PROTO="https")[0], "200 OK")
        self.assertEqual(call(r, "/a", HTTP_X_TOKEN="t")[2], b"app saw /a? token")
        self.assertEqual(call(r, "/v2/items")[2], b"app saw /v2/items? v2")
        self.assertEqual(call(r, "/", CONTENT_LENGTH="101")[0][:3], "413")
        self.assertEqual(call(r, "/", CONTENT_LENGTH="99")[0], "200 OK")

    def test_file_conditions_and_static(self):
        d = tempfile.mkdtemp(prefix="ebb-routes-")
        self.addCleanup(shutil.rmtree, d)
        page = os.path.join(d, "maintenance.html")
        r = router("route-if\texists:%s static:%s" % (page, page))
        self.assertEqual(call(r, "/any")[0], "200 OK")
        self.assertEqual(call(r, "/any")[2], b"app saw /any? ")
        with open(page, "wb") as f:
            f.write(b"<h1>back soon</h1>")
        s, h, b = call(r, "/any")
        self.assertEqual((s, b), ("200 OK", b"<h1>back soon</h1>"))
        self.assertTrue(h["Content-Type"].startswith("text/html"))
        self.assertEqual(call(router("route\t.* static:/nonexistent/x"))[0], "404 Not Found")

    def test_goto_and_labels(self):
        r = router("route\t^/admin goto:https", "route-run\tlast:", "route-label\thttps",
                   "route-if-not\tequal:${HTTPS};on redirect-permanent:https://${HTTP_HOST}${REQUEST_URI}")
        self.assertEqual(call(r, "/admin")[0], "301 Moved Permanently")
        self.assertEqual(call(r, "/admin", HTTPS="on")[0], "200 OK")
        self.assertEqual(call(r, "/shop")[0], "200 OK")
        with self.assertRaisesRegex(routes.RouteError, "no route-label 'nowhere'"):
            router("route\t.* goto:nowhere")

    def test_a_goto_loop_answers_500_and_logs_once_per_request(self):
        said = []
        r = router("route-label\ta", "route-run\tgoto:a", log=said.append)
        self.assertEqual(call(r)[0], "500 Internal Server Error")
        self.assertEqual(len(said), 1)

    def test_basicauth(self):
        r = router("route\t^/private basicauth:Staff,ann:s3cret")
        s, h, _ = call(r, "/private")
        self.assertEqual((s, h["WWW-Authenticate"]), ("401 Unauthorized", 'Basic realm="Staff"'))
        good = "Basic " + base64.b64encode(b"ann:s3cret").decode()
        bad = "Basic " + base64.b64encode(b"ann:nope").decode()
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/private", "HTTP_AUTHORIZATION": good}
        r(environ, lambda status, headers: None)
        self.assertEqual(environ["REMOTE_USER"], "ann")
        self.assertEqual(call(r, "/private", HTTP_AUTHORIZATION=bad)[0], "401 Unauthorized")
        self.assertEqual(call(r, "/private", HTTP_AUTHORIZATION="Basic !!")[0], "401 Unauthorized")
        self.assertEqual(call(r, "/public")[0], "200 OK")

    def test_log_and_donotlog(self):
        said = []
        r = router("route\t^/x log:hit ${PATH_INFO} from ${REMOTE_ADDR}", "route\t^/x donotlog:",
                   log=said.append)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x/1", "REMOTE_ADDR": "1.2.3.4"}
        r(environ, lambda status, headers: None)
        self.assertEqual(said, ["hit /x/1 from 1.2.3.4"])
        self.assertIn("ebb.donotlog", environ)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/y"}
        r(environ, lambda status, headers: None)
        self.assertNotIn("ebb.donotlog", environ)

    def test_no_body_on_204_or_head(self):
        r = router("route\t^/a return:204", "route\t^/b return:403")
        s, h, b = call(r, "/a")
        self.assertEqual((s, b), ("204 No Content", b""))
        self.assertNotIn("Content-Length", h)
        s, h, b = call(r, "/b", REQUEST_METHOD="HEAD")
        self.assertEqual((s, b, h["Content-Length"]), ("403 Forbidden", b"", "14"))

    def test_bad_rules_are_refused_with_the_rule_named(self):
        for line, msg in [("route\t^/(unclosed return:403", "bad regular expression"),
                          ("route\t^/x", "no action"),
                          ("route\t^/x proxy:foo", "unknown action 'proxy'"),
                          ("route-if\tfoo:a;b last:", "unknown condition 'foo'"),
                          ("route-if\tequal:a last:", "two values"),
                          ("route\t^/ return:abc", "not an HTTP status"),
                          ("route\t^/ basicauth:Realm", "basicauth:Realm,user:password")]:
            with self.subTest(line=line):
                with self.assertRaisesRegex(routes.RouteError, re.escape(msg)):
                    router(line)

    def test_the_master_and_the_worker_know_the_same_actions_and_conditions(self):
        with open(os.path.join(ROOT, "src", "config", "layers.rs")) as f:
            rust = f.read()
        actions = rust.split("ROUTE_ACTIONS: &[&str] = &[", 1)[1].split("];", 1)[0]
        self.assertEqual(set(re.findall(r'"([a-z0-9-]+)"', actions)), set(routes.ACTIONS))
        conds = rust.split("ROUTE_CONDITIONS: &[(&str, usize)] = &[", 1)[1].split("];", 1)[0]
        self.assertEqual({n: int(a) for n, a in re.findall(r'\("([a-z]+)", (\d)\)', conds)},
                         {n: a for n, (a, _) in routes.CONDITIONS.items()})

    def test_from_env_without_routes_is_the_app_itself(self):
        self.assertIs(routes.from_env(app, {}), app)
        r = routes.from_env(app, {"EBB_ROUTES": "route\t^/a return:204\nadd-header\tX-A: 1"})
        s, h, _ = call(r, "/a")
        self.assertEqual((s, h["X-A"]), ("204 No Content", "1"))


if __name__ == "__main__":
    unittest.main()
