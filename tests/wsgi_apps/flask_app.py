"""A small Flask app (tests/wsgi/ and tests/uwsgi_ini.rs): routes, JSON, a streamed response."""

import os

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask pid=%d greeting=%s\n" % (os.getpid(), os.environ.get("GREETING", ""))


@app.route("/user/<name>")
def user(name):
    return "hello %s\n" % name


@app.route("/json", methods=["GET", "POST"])
def json_view():
    if request.method == "POST":
        data = request.get_json(force=True)
        return jsonify(got=data, total=sum(data.get("numbers", [])))
    return jsonify(ok=True, items=[1, 2, 3], pid=os.getpid())


@app.route("/stream")
def stream():
    n = int(request.args.get("n", "5"))

    def generate():
        for i in range(n):
            yield "line %d of %d\n" % (i + 1, n)

    return Response(stream_with_context(generate()), mimetype="text/plain")
