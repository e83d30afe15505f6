"""IAM evaluation for the AWS simulator: sessions made by STS AssumeRole
(with their session tags) and the identity policies registered for their
role are evaluated on every call the session makes, by a real IAM policy
engine (@cloud-copilot/iam-simulate, run by iam/evaluate.mjs), as AWS
would: one authorization per resource the call touches, with the context
keys AWS sets (aws:RequestTag/..., aws:ResourceTag/..., aws:PrincipalTag/...,
aws:TagKeys, ec2:CreateAction). A refused call is answered as EC2 answers
(`UnauthorizedOperation`, HTTP 403).

Only sessions whose role has a policy registered (PUT /_sim/iam/policies)
are evaluated; every other caller acts as before, unrestricted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from typing import Any
from urllib.parse import parse_qs

from moto.ec2.models import ec2_backends

import privatelink_sim

HERE = os.path.dirname(os.path.abspath(__file__))
ACCESS_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")

# EC2 id prefixes → IAM resource types (longest prefix first).
RESOURCE_TYPES = [
    ("vpce-svc-", "vpc-endpoint-service"),
    ("vpce-", "vpc-endpoint"),
    ("vpc-", "vpc"),
    ("subnet-", "subnet"),
    ("sg-", "security-group"),
    ("rtb-", "route-table"),
]


class Refused(Exception):
    """The evaluator refused the call (or could not evaluate it)."""

    def __init__(self, action: str, resource: str, principal: str, detail: str = ""):
        self.message = (
            f"You are not authorized to perform this operation. User: {principal} is not authorized to perform: "
            f"{action} on resource: {resource} because no identity-based policy allows the {action} action"
            + (f" ({detail})" if detail else "")
        )
        super().__init__(self.message)


class Evaluator:
    """The Node helper, started on first use and asked line by line."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = None
        self.next_id = 0

    def _start(self) -> subprocess.Popen[str]:
        script = os.path.join(HERE, "iam", "evaluate.mjs")
        if not os.path.isdir(os.path.join(HERE, "iam", "node_modules", "@cloud-copilot", "iam-simulate")):
            raise RuntimeError(
                "the IAM evaluator is not installed: run `npm ci --prefix tests/aws-sim/iam` "
                "(tests/servers.sh does it)"
            )
        return subprocess.Popen(
            ["node", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.process = self._start()
            self.next_id += 1
            request = {**request, "id": self.next_id}
            assert self.process.stdin and self.process.stdout
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            if not line:
                self.process = None
                return {"decision": "Error", "detail": "the IAM evaluator exited"}
            return json.loads(line)


class Iam:
    """Sessions, registered policies, and the decision for each call."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, list[dict[str, Any]]] = {}
        self.evaluator = Evaluator()

    # --- control -----------------------------------------------------------

    def set_policies(self, role_arn: str, policies: list[dict[str, Any]]) -> dict[str, Any]:
        """Attach `policies` ([{name, policy}]) to `role_arn`: every call of
        a session of that role is evaluated from now on."""
        with self.lock:
            self.policies[role_arn] = [{"name": p["name"], "policy": p["policy"]} for p in policies]
        return {"ok": True}

    def clear(self, role_arn: str | None) -> dict[str, Any]:
        with self.lock:
            if role_arn:
                self.policies.pop(role_arn, None)
            else:
                self.policies.clear()
        return {"ok": True}

    # --- STS -----------------------------------------------------------------

    @staticmethod
    def is_assume_role(service: str, action: str) -> bool:
        return service == "sts" and action == "AssumeRole"

    def remember_session(self, body: bytes, answer: bytes) -> None:
        """After moto answered AssumeRole: the new access key belongs to a
        session of RoleArn carrying the request's Tags."""
        form = parse_qs(body.decode("utf-8", "replace"))
        match = ACCESS_KEY.search(answer)
        role = (form.get("RoleArn") or [""])[0]
        if not match or not role:
            return
        tags = {}
        n = 1
        while f"Tags.member.{n}.Key" in form:
            tags[form[f"Tags.member.{n}.Key"][0]] = (form.get(f"Tags.member.{n}.Value") or [""])[0]
            n += 1
        name = (form.get("RoleSessionName") or ["session"])[0]
        with self.lock:
            self.sessions[match.group(1).decode()] = {"role": role, "tags": tags, "name": name}

    # --- evaluation ------------------------------------------------------------

    def check(self, access_key: str, service: str, action: str, body: bytes, account: str, region: str) -> None:
        """Raise Refused when the caller's session may not make this call."""
        with self.lock:
            session = self.sessions.get(access_key)
            policies = self.policies.get(session["role"]) if session else None
        if not session or not policies or service == "sts":
            return
        role_name = session["role"].rsplit("/", 1)[-1]
        principal = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session['name']}"
        principal_keys = {f"aws:PrincipalTag/{k}": v for k, v in session["tags"].items()}
        principal_keys["aws:PrincipalAccount"] = account
        params = parse_qs(body.decode("utf-8", "replace")) if body else {}
        for iam_action, resource, context in requests_for(service, action, params, account, region):
            answer = self.evaluator.ask({
                "policies": policies,
                "action": iam_action,
                "principal": principal,
                "resource": resource,
                "accountId": account,
                "context": {**principal_keys, **context},
            })
            if answer.get("decision") != "Allowed":
                detail = answer.get("detail", "") if answer.get("decision") == "Error" else ""
                raise Refused(iam_action, resource, principal, detail)


def _list(params: dict[str, list[str]], name: str) -> list[str]:
    """`Name` or `Name.1`, `Name.2`… of a query-protocol request."""
    if name in params:
        return params[name]
    values, n = [], 1
    while f"{name}.{n}" in params:
        values.append(params[f"{name}.{n}"][0])
        n += 1
    return values


def _tag_list(params: dict[str, list[str]], prefix: str) -> dict[str, str]:
    tags, n = {}, 1
    while f"{prefix}.{n}.Key" in params:
        tags[params[f"{prefix}.{n}.Key"][0]] = (params.get(f"{prefix}.{n}.Value") or [""])[0]
        n += 1
    return tags


def _tag_specifications(params: dict[str, list[str]]) -> dict[str, str]:
    tags, n = {}, 1
    while f"TagSpecification.{n}.ResourceType" in params:
        tags.update(_tag_list(params, f"TagSpecification.{n}.Tag"))
        n += 1
    return tags


def _arn(account: str, region: str, resource_id: str) -> str:
    kind = next((t for p, t in RESOURCE_TYPES if resource_id.startswith(p)), None)
    if kind is None:
        return "*"
    return f"arn:aws:ec2:{region}:{account}:{kind}/{resource_id}"


def _resource_tags(account: str, region: str, resource_id: str) -> dict[str, str]:
    try:
        return dict(ec2_backends[account][region].tags.get(resource_id) or {})
    except KeyError:
        return {}


def _existing(account: str, region: str, resource_id: str) -> tuple[str, dict[str, Any]]:
    """(ARN, aws:ResourceTag/... keys) of an existing EC2 resource."""
    tags = _resource_tags(account, region, resource_id)
    return _arn(account, region, resource_id), {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def _requested(tags: dict[str, str]) -> dict[str, Any]:
    keys: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        keys["aws:TagKeys"] = sorted(tags)
    return keys


def _notification_target(account: str, region: str, notification_id: str) -> str:
    try:
        backend = ec2_backends[account][region]
    except KeyError:
        return notification_id
    n = privatelink_sim._notifications(backend).get(notification_id) or {}
    return n.get("ServiceId") or n.get("VpcEndpointId") or notification_id


ENDPOINT_ACTIONS = {"ModifyVpcEndpoint": "VpcEndpointId", "DeleteVpcEndpoints": "VpcEndpointId"}
SERVICE_ACTIONS = {
    "ModifyVpcEndpointServiceConfiguration", "DeleteVpcEndpointServiceConfigurations",
    "ModifyVpcEndpointServicePermissions", "AcceptVpcEndpointConnections", "RejectVpcEndpointConnections",
    "StartVpcEndpointServicePrivateDnsVerification", "ModifyVpcEndpointServicePayerResponsibility",
}
CREATES = {"CreateVpcEndpoint": "vpc-endpoint", "CreateVpcEndpointServiceConfiguration": "vpc-endpoint-service"}


def requests_for(service: str, action: str, params: dict[str, list[str]], account: str,
                 region: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The authorizations AWS makes for one call: (IAM action, resource ARN,
    context keys), all of which must be allowed."""
    iam_action = f"{'elasticloadbalancing' if service == 'elasticloadbalancing' else service}:{action}"
    if action.startswith(("Describe", "Get", "List")) or service != "ec2":
        return [(iam_action, "*", {})]
    if action in CREATES:
        tags = _tag_specifications(params)
        new = f"arn:aws:ec2:{region}:{account}:{CREATES[action]}/*"
        asks = [(iam_action, new, _requested(tags))]
        if action == "CreateVpcEndpoint":
            touched = _list(params, "VpcId") + _list(params, "SubnetId") + _list(params, "SecurityGroupId") \
                + _list(params, "RouteTableId")
            asks += [(iam_action, *_existing(account, region, rid)) for rid in touched]
        if tags:
            asks.append(("ec2:CreateTags", new, {**_requested(tags), "ec2:CreateAction": action}))
        return asks
    if action in ("CreateTags", "DeleteTags"):
        tags = _tag_list(params, "Tag")
        asks = []
        for rid in _list(params, "ResourceId"):
            arn, existing = _existing(account, region, rid)
            requested = _requested(tags) if action == "CreateTags" else {"aws:TagKeys": sorted(tags)} if tags else {}
            asks.append((iam_action, arn, {**existing, **requested}))
        return asks
    if action in ENDPOINT_ACTIONS:
        return [(iam_action, *_existing(account, region, rid)) for rid in _list(params, ENDPOINT_ACTIONS[action])]
    if action in SERVICE_ACTIONS:
        return [(iam_action, *_existing(account, region, rid)) for rid in _list(params, "ServiceId")]
    if action == "CreateVpcEndpointConnectionNotification":
        targets = _list(params, "ServiceId") + _list(params, "VpcEndpointId")
        return [(iam_action, *_existing(account, region, rid)) for rid in targets]
    if action in ("ModifyVpcEndpointConnectionNotification", "DeleteVpcEndpointConnectionNotifications"):
        targets = [_notification_target(account, region, nid) for nid in _list(params, "ConnectionNotificationId")]
        return [(iam_action, *_existing(account, region, rid)) for rid in targets]
    return [(iam_action, "*", {})]
