"""AWS simulator for privatelink-operator's tests: moto's server, extended
where moto 5.2.5 differs from AWS (privatelink_sim.py), behind a WSGI
middleware that injects faults, counts calls and serves the /_sim/ control
endpoint (see README.md beside this file).

Usage: python tests/aws-sim/server.py [--host 127.0.0.1] [--port 5123]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns_sim  # noqa: E402
import iam_sim  # noqa: E402
import network_sim  # noqa: E402
import privatelink_sim  # noqa: E402

# AWS's documented EC2 token buckets: (burst, refill per second).
BUCKETS = {
    "read": (100.0, 20.0),
    "endpoint": (4.0, 0.3),
    "service": (10.0, 1.0),
    "connection": (10.0, 1.0),
    "tags": (100.0, 10.0),
    "mutating": (50.0, 5.0),
}


def is_mutating(action: str) -> bool:
    return not action.startswith(("Describe", "List", "Get", "Lookup"))


def bucket_class(action: str) -> str:
    if action.startswith(("Describe", "List", "Get")):
        return "read"
    if action in ("CreateVpcEndpoint", "ModifyVpcEndpoint", "DeleteVpcEndpoints"):
        return "endpoint"
    if action in (
        "CreateVpcEndpointServiceConfiguration",
        "ModifyVpcEndpointServiceConfiguration",
        "DeleteVpcEndpointServiceConfigurations",
    ):
        return "service"
    if action in ("AcceptVpcEndpointConnections", "RejectVpcEndpointConnections"):
        return "connection"
    if action in ("CreateTags", "DeleteTags"):
        return "tags"
    return "mutating"


class Faults:
    """Fault settings, per account (so parallel tests do not disturb each
    other) or for every account: throttling with AWS's token buckets (time
    scaled), error rates and latency per action."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scopes: dict[str, dict[str, Any]] = {}
        self.buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def reset(self, account: str | None = None, region: str | None = None) -> None:
        with self.lock:
            if account or region:
                self.scopes.pop((account or "*", region or "*"), None)
                self.buckets = {
                    k: v for k, v in self.buckets.items()
                    if not ((account in (None, k[0])) and (region in (None, k[1])))
                }
            else:
                self.scopes.clear()
                self.buckets.clear()

    def configure(self, body: dict[str, Any]) -> None:
        with self.lock:
            scope = (body.get("account") or "*", body.get("region") or "*")
            self.scopes[scope] = {
                "throttle": bool(body.get("throttle", False)),
                "timeScale": float(body.get("timeScale", 1.0)),
                "rules": list(body.get("rules", [])),
            }
            self.buckets = {
                k: v for k, v in self.buckets.items()
                if not (scope[0] in ("*", k[0]) and scope[1] in ("*", k[1]))
            }

    def _settings(self, account: str, region: str) -> dict[str, Any] | None:
        for key in ((account, region), (account, "*"), ("*", region), ("*", "*")):
            if key in self.scopes:
                return self.scopes[key]
        return None

    def take_token(self, account: str, region: str, action: str) -> bool:
        """True when the call may proceed; False when AWS would throttle it."""
        with self.lock:
            settings = self._settings(account, region)
            if not settings or not settings["throttle"]:
                return True
            cls = bucket_class(action)
            burst, rate = BUCKETS[cls]
            now = time.monotonic()
            tokens, last = self.buckets.get((account, region, cls), (burst, now))
            tokens = min(burst, tokens + (now - last) * rate * settings["timeScale"])
            if tokens < 1.0:
                self.buckets[(account, region, cls)] = (tokens, now)
                return False
            self.buckets[(account, region, cls)] = (tokens - 1.0, now)
            return True

    def rule_for(self, account: str, region: str, action: str) -> dict[str, Any] | None:
        with self.lock:
            settings = self._settings(account, region)
            for rule in (settings or {}).get("rules", []):
                if rule.get("crashAfter"):
                    continue
                if rule.get("action") in (action, "*") or (rule.get("action") == "mutating" and is_mutating(action)):
                    return rule
        return None

    def take_crash(self, account: str, region: str, action: str) -> float | None:
        """Seconds to hold the answer of a call the client must not see
        (crashAfter rules: the call takes effect, then the answer waits, so
        the test can stop the operator between AWS's change and anything the
        operator does next). A rule with `times` fires that many times."""
        with self.lock:
            settings = self._settings(account, region)
            for rule in (settings or {}).get("rules", []):
                if not rule.get("crashAfter"):
                    continue
                if not (rule.get("action") in (action, "*") or (rule.get("action") == "mutating" and is_mutating(action))):
                    continue
                times = int(rule.get("times", 1))
                if times <= 0:
                    continue
                rule["times"] = times - 1
                return float(rule.get("holdSeconds", 10.0))
        return None


class Calls:
    """Every call: counts per action, account and region, and an ordered log."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.log.append(entry)

    def snapshot(self, account: str | None, region: str | None) -> dict[str, Any]:
        with self.lock:
            rows = [c for c in self.log if (not account or c["account"] == account) and (not region or c["region"] == region)]
        counts: dict[str, int] = {}
        for c in rows:
            key = f"{c['account']}/{c['region']}/{c['action']}"
            counts[key] = counts.get(key, 0) + 1
        return {"calls": rows, "counts": counts}

    def reset(self, account: str | None = None) -> None:
        with self.lock:
            self.log = [c for c in self.log if account and c["account"] != account]


CREDENTIAL = re.compile(r"Credential=([^/]+)/[0-9]+/([a-z0-9-]+)/([a-z0-9-]+)/")


# Services that speak a JSON protocol (their errors are JSON too).
JSON_SERVICES = {"cloudtrail"}


def error_body(service: str, code: str, message: str) -> bytes:
    request_id = str(uuid.uuid4())
    if service in JSON_SERVICES:
        return json.dumps({"__type": code, "message": message}).encode()
    if service == "ec2":
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
    return (
        f'<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>'
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


class Simulator:
    """WSGI middleware around moto's server app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.faults = Faults()
        self.calls = Calls()
        self.iam = iam_sim.Iam()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_sim/"):
            return self.control(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = self.action_of(environ, body)
        if action is None:
            return self.app(environ, start_response)
        match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region, service = match.groups() if match else ("", "", "")
        account = environ.get("HTTP_X_MOTO_ACCOUNT_ID") or self.account_of(access_key)
        entry = {"action": action, "service": service, "account": account, "region": region, "time": time.time()}
        token = self.client_token_of(body)
        if token:
            entry["clientToken"] = token

        if self.iam.is_assume_role(service, action):
            return self.assume_role(entry, environ, start_response, body)
        try:
            self.iam.check(access_key, service, action, body, account, region)
        except iam_sim.Refused as e:
            code = "UnauthorizedOperation" if service == "ec2" else "AccessDenied"
            return self.fail(entry, start_response, service, 403, code, e.message)

        rule = self.faults.rule_for(account, region, action)
        if rule and rule.get("latencyMs"):
            latency = rule["latencyMs"]
            if isinstance(latency, list):
                latency = random.uniform(float(latency[0]), float(latency[1]))
            time.sleep(float(latency) / 1000.0)
        if not self.faults.take_token(account, region, action):
            return self.fail(entry, start_response, service, 503, "RequestLimitExceeded", "Request limit exceeded.")
        if rule and random.random() < float(rule.get("errorRate", 0.0)):
            code = rule.get("errorCode", "InternalError")
            if isinstance(code, list):
                code = random.choice(code)
            status = (
                503 if code in ("RequestLimitExceeded", "Throttling", "ServiceUnavailable")
                else 403 if code in ("UnauthorizedOperation", "AccessDenied", "AuthFailure")
                else 500
            )
            return self.fail(entry, start_response, service, status, code, rule.get("errorMessage", f"Injected {code}"))

        if action == "LookupEvents" and service == "cloudtrail":
            return self.lookup_events(entry, start_response, account, region, body)

        hold = self.faults.take_crash(account, region, action)
        if hold is not None:
            return self.crash_after(entry, environ, start_response, hold)

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            entry["status"] = int(status.split(" ", 1)[0])
            self.calls.record(entry)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(environ, recording_start_response)

    def assume_role(self, entry: dict[str, Any], environ: dict[str, Any], start_response: Any, body: bytes) -> Any:
        """STS AssumeRole, answered by moto; the new session's access key is
        remembered with its role and session tags for IAM evaluation."""
        answer: dict[str, Any] = {}

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return lambda _data: None

        data = b"".join(self.app(environ, capture))
        entry["status"] = int(answer["status"].split(" ", 1)[0])
        self.calls.record(entry)
        if entry["status"] == 200:
            self.iam.remember_session(body, data)
        start_response(answer["status"], answer["headers"])
        return [data]

    def crash_after(self, entry: dict[str, Any], environ: dict[str, Any], start_response: Any, hold: float) -> Any:
        """Carry the call out, record it (`crashed`), then hold the answer
        for `hold` seconds before sending it, to a client that by then
        should be gone."""
        answer: dict[str, Any] = {}

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        entry["status"] = int(answer["status"].split(" ", 1)[0])
        entry["crashed"] = True
        self.calls.record(entry)
        time.sleep(hold)
        start_response(answer["status"], answer["headers"])
        return [body]

    def lookup_events(self, entry: dict[str, Any], start_response: Any, account: str, region: str, body: bytes) -> Any:
        """CloudTrail's event history (moto has none): JSON 1.1 protocol."""
        try:
            request = json.loads(body or b"{}")
            data = json.dumps(network_sim.lookup_events(account, region, request)).encode()
            status = "200 OK"
        except (ValueError, KeyError) as e:
            data = json.dumps({"__type": "InvalidLookupAttributesException", "message": str(e)}).encode()
            status = "400 Bad Request"
        entry["status"] = int(status.split(" ", 1)[0])
        self.calls.record(entry)
        start_response(status, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data))),
                                ("x-amzn-RequestId", str(uuid.uuid4()))])
        return [data]

    def fail(self, entry: dict[str, Any], start_response: Any, service: str, status: int, code: str, message: str) -> Any:
        entry["status"] = status
        entry["error"] = code
        self.calls.record(entry)
        body = error_body(service, code, message)
        kind = "application/x-amz-json-1.1" if service in JSON_SERVICES else "text/xml"
        start_response(f"{status} Error", [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    @staticmethod
    def action_of(environ: dict[str, Any], body: bytes) -> str | None:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.split(".")[-1]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "Action" in query:
            return query["Action"][0]
        if body and b"Action=" in body:
            form = parse_qs(body.decode("utf-8", "replace"))
            if "Action" in form:
                return form["Action"][0]
        return None

    @staticmethod
    def client_token_of(body: bytes) -> str | None:
        """The ClientToken of a create (the idempotency key), for tests that
        tell a new creation from a replay."""
        if b"ClientToken=" not in body:
            return None
        tokens = parse_qs(body.decode("utf-8", "replace")).get("ClientToken")
        return tokens[0] if tokens else None

    @staticmethod
    def account_of(access_key: str) -> str:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(access_key)

    def control(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        method = environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            body = json.loads(raw) if raw else {}
            result = self.route(method, path, body, query)
            status, payload = "200 OK", result
        except KeyError as e:
            status, payload = "404 Not Found", {"error": f"not found: {e}"}
        except (ValueError, TypeError) as e:
            status, payload = "400 Bad Request", {"error": str(e)}
        data = json.dumps(payload, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def route(self, method: str, path: str, body: dict[str, Any], query: dict[str, str]) -> Any:
        if path == "/_sim/health":
            return {"ok": True}
        if path == "/_sim/calls" and method == "GET":
            return self.calls.snapshot(query.get("account"), query.get("region"))
        if path == "/_sim/calls" and method == "DELETE":
            self.calls.reset(query.get("account"))
            return {"ok": True}
        if path == "/_sim/faults" and method in ("PUT", "POST"):
            self.faults.configure(body)
            return {"ok": True}
        if path == "/_sim/faults" and method == "DELETE":
            self.faults.reset(query.get("account"), query.get("region"))
            return {"ok": True}
        if path == "/_sim/notifications" and method == "GET":
            return {"notifications": list(privatelink_sim.PUBLISHED)}
        if path == "/_sim/notifications" and method == "DELETE":
            privatelink_sim.PUBLISHED.clear()
            return {"ok": True}
        if path == "/_sim/private-dns" and method == "POST":
            return privatelink_sim.set_private_dns_state(body["serviceId"], body["state"])
        if path == "/_sim/requester-managed-endpoint" and method == "POST":
            return privatelink_sim.create_requester_managed_endpoint(
                body["account"], body["region"], body["vpcId"], body.get("subnetIds", []),
                body["serviceName"], body.get("tags", {}),
            )
        if path == "/_sim/network-interface" and method == "POST":
            return network_sim.create_service_interface(
                body["account"], body["region"], body["subnetId"], body.get("groupIds", []),
                body["interfaceType"], body["description"], body.get("requesterId", "amazon"),
            )
        if path == "/_sim/seed-endpoints" and method == "POST":
            return privatelink_sim.seed_endpoints(
                body["account"], body["region"], body["vpcId"], body["subnetIds"], body.get("securityGroupIds", []),
                body["serviceName"], body["tags"],
            )
        if path == "/_sim/iam/policies" and method in ("PUT", "POST"):
            return self.iam.set_policies(body["roleArn"], body["policies"])
        if path == "/_sim/iam/policies" and method == "DELETE":
            return self.iam.clear(query.get("roleArn"))
        if path == "/_sim/dns" and method == "POST":
            return dns_sim.register(body["name"], body["cname"])
        if path == "/_sim/cloudtrail" and method == "POST":
            return network_sim.record_event(body["account"], body["region"], body)
        raise KeyError(f"{method} {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5123)
    args = parser.parse_args()
    started = time.monotonic()
    privatelink_sim.install()
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    dns_sim.serve(args.host, args.port)
    app = Simulator(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"aws-sim listening on http://{args.host}:{args.port} (started in {time.monotonic() - started:.2f}s)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
