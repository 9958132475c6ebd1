"""X-Worker-Pid on every response: the benchmark tells which worker process answered."""

import os


def worker_pid(get_response):
    def middleware(request):
        response = get_response(request)
        response["X-Worker-Pid"] = str(os.getpid())
        return response
    return middleware
