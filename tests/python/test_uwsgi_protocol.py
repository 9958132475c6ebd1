"""Tests of ebb's Python worker: the uwsgi protocol (behind nginx's uwsgi_pass), with real
processes."""

import json
import os
import shutil
import time
import unittest

from launch import bind_tcp
from harness import Client, WorkerTestCase, uwsgi_packet


class UwsgiProtocolTests(WorkerTestCase):
    packet = staticmethod(uwsgi_packet)

    def test_uwsgi_request(self):
        s = bind_tcp()
        self.socks.append(s)
        self.start(listeners=[(s, "uwsgi")])
        c = self.client()
        c.send(self.packet({"REQUEST_METHOD": "POST", "PATH_INFO": "/echo", "QUERY_STRING": "",
                            "REQUEST_URI": "/echo", "SERVER_PROTOCOL": "HTTP/1.1",
                            "CONTENT_LENGTH": "11", "SERVER_NAME": "example.org",
                            "SERVER_PORT": "443", "REMOTE_ADDR": "10.1.2.3", "HTTPS": "on",
                            "HTTP_HOST": "example.org"}, b"hello uwsgi"))
        r = c.response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello uwsgi")
        self.assertTrue(c.is_closed())
        c = self.client()
        c.send(self.packet({"REQUEST_METHOD": "GET", "PATH_INFO": "/env", "QUERY_STRING": "a=b",
                            "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "example.org",
                            "SERVER_PORT": "443", "REMOTE_ADDR": "10.1.2.3", "HTTPS": "on",
                            "HTTP_X_FORWARDED_FOR": "1.2.3.4"}))
        r = c.response()
        env = json.loads(r.body)          # no Content-Length: read to EOF
        self.assertEqual(env["REMOTE_ADDR"], "10.1.2.3")
        self.assertEqual(env["SERVER_NAME"], "example.org")
        self.assertEqual(env["wsgi.url_scheme"], "https")
        self.assertEqual(env["QUERY_STRING"], "a=b")
        self.assertEqual(env["HTTP_X_FORWARDED_FOR"], "1.2.3.4")
        # a streamed response is not chunked on a uwsgi socket
        c = self.client()
        c.send(self.packet({"REQUEST_METHOD": "GET", "PATH_INFO": "/stream",
                            "QUERY_STRING": "n=2", "SERVER_PROTOCOL": "HTTP/1.1"}))
        r = c.response()
        self.assertIsNone(r.header("transfer-encoding"))
        self.assertEqual(r.body, b"chunk0;chunk1;")

    def test_mount_prefix_is_split_off_uwsgi_requests(self):
        s = bind_tcp()
        self.socks.append(s)
        app = os.path.join(self.tmp, "where.py")
        with open(app, "w") as f:
            f.write("import json\n"
                    "def app(environ, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
                    "    return [json.dumps([environ['SCRIPT_NAME'], environ['PATH_INFO']])"
                    ".encode()]\n")
        self.start(args=["--wsgi-file", app, "--callable", "app"], listeners=[(s, "uwsgi")],
                   env={"SCRIPT_NAME": "/app"})
        for sent, want in [({"PATH_INFO": "/app/env"}, ("/app", "/env")),
                           ({"PATH_INFO": "/app"}, ("/app", "")),
                           ({"REQUEST_URI": "/app/env?x=1"}, ("/app", "/env")),
                           ({"PATH_INFO": "/application/env"}, ("/app", "/application/env")),
                           # nginx sent SCRIPT_NAME: its split stands
                           ({"PATH_INFO": "/app/env", "SCRIPT_NAME": "/x"}, ("/x", "/app/env"))]:
            c = self.client()
            v = {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1"}
            v.update(sent)
            c.send(self.packet(v))
            self.assertEqual(tuple(json.loads(c.response().body)), want, sent)

    def test_through_nginx_uwsgi_pass(self):
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                          else None)
        params = "/etc/nginx/uwsgi_params"
        if not nginx or not os.path.exists(params):
            self.skipTest("nginx (with /etc/nginx/uwsgi_params) is not installed")
        s = bind_tcp()
        self.socks.append(s)
        self.start(listeners=[(s, "uwsgi")])
        front = bind_tcp()
        port = front.getsockname()[1]
        front.close()
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""
daemon off; master_process off; worker_processes 1; pid %(t)s/nginx.pid;
error_log %(t)s/nginx-error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %(t)s/body; proxy_temp_path %(t)s/proxy;
  fastcgi_temp_path %(t)s/fcgi; uwsgi_temp_path %(t)s/uwsgi; scgi_temp_path %(t)s/scgi;
  server {
    listen 127.0.0.1:%(port)d;
    location / { include %(params)s; uwsgi_pass 127.0.0.1:%(up)d; }
  }
}
""" % {"t": self.tmp, "port": port, "params": params, "up": s.getsockname()[1]})
        import subprocess
        proc = subprocess.Popen([nginx, "-c", conf, "-p", self.tmp], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    c = Client(("127.0.0.1", port))
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        self.fail("nginx did not start")
                    time.sleep(0.05)
            self.addCleanup(c.close)
            r = c.request("GET", "/env/x%20y?a=1")
            self.assertEqual(r.status, 200)
            env = json.loads(r.body)
            self.assertEqual(env["PATH_INFO"], "/env/x y")
            self.assertEqual(env["QUERY_STRING"], "a=1")
            self.assertEqual(env["REQUEST_METHOD"], "GET")
            self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
            self.assertEqual(env["HTTP_HOST"], "test.local")
            body = os.urandom(100000)
            r = c.request("POST", "/echo", body=body)
            self.assertEqual(r.body, body)
            r = c.request("GET", "/stream?n=3")
            self.assertEqual(r.body, b"chunk0;chunk1;chunk2;")
        finally:
            proc.terminate()
            proc.wait(10)

    def test_http_and_uwsgi_sockets_together(self):
        s1 = bind_tcp()
        s2 = bind_tcp()
        self.socks += [s1, s2]
        self.start(listeners=[(s1, "http"), (s2, "uwsgi")])
        self.assertEqual(self.client(s1.getsockname()).request("GET", "/").status, 200)
        c = self.client(s2.getsockname())
        c.send(self.packet({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}))
        self.assertEqual(c.response().body, b"Hello, World!")


if __name__ == "__main__":
    unittest.main()
