"""The VPC network as AWS shows it where moto 5.2.5 does not: the network
interfaces AWS services create (endpoints, load balancers, Lambda, NAT
gateways) with their type, description and requester, the rules that keep
a security group from being deleted, security-group references across
peered VPCs, and CloudTrail's event history. `doctor` reads all of it.
Loaded by privatelink_sim.install().
"""

from __future__ import annotations

import ipaddress
import json
import random
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import moto.elbv2.models as elbv2_models
from moto.elbv2.exceptions import ResourceInUseError
from moto.core.responses import ActionResult
from moto.ec2.exceptions import DependencyViolationError, EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.responses import EC2Response

# AWS-owned requester ids, as DescribeNetworkInterfaces shows them.
ELB_REQUESTER = "amazon-elb"
VPCE_REQUESTER = "727180483921"

TRAIL_LOCK = threading.Lock()
# CloudTrail management events by (account, region), newest last.
TRAIL: dict[tuple[str, str], list[dict[str, Any]]] = {}


class CannotDelete(EC2ClientError):
    def __init__(self, group_id: str, name: str):
        super().__init__(
            "CannotDelete", f'the specified group: "{group_id}" name: "{name}" cannot be deleted by a user'
        )


def _ip_in(subnet: Any) -> str:
    """A free-looking address inside the subnet (AWS: ENIs take addresses
    of their subnet)."""
    network = ipaddress.ip_network(subnet.cidr_block, strict=False)
    hosts = network.num_addresses - 5
    return str(network.network_address + 4 + random.randrange(max(hosts, 1)))


def _service_interface(backend: Any, subnet_id: str, group_ids: list[str], interface_type: str,
                       description: str, requester_id: str) -> Any:
    subnet = backend.get_subnet(subnet_id)
    eni = backend.create_network_interface(subnet, _ip_in(subnet), group_ids=group_ids or None, description=description)
    eni.interface_type = interface_type
    eni.requester_managed = True
    eni.requester_id = requester_id
    eni.status = "in-use"
    if not group_ids:
        eni._group_set = []
    return eni


def dress_endpoint_interfaces(backend: Any, endpoint: Any) -> None:
    """AWS: an interface endpoint's network interfaces are requester-managed,
    of type vpc_endpoint, described "VPC Endpoint Interface vpce-…", carry the
    endpoint's security groups (the VPC's default group when it names none)
    and take addresses of their subnets."""
    groups = list(endpoint.security_group_ids or [])
    if not groups:
        default = backend.get_security_group_from_name("default", vpc_id=endpoint.vpc_id)
        groups = [default.id] if default else []
    for eni_id in endpoint.network_interface_ids or []:
        eni = backend.enis.get(eni_id)
        if eni is None:
            continue
        eni.interface_type = "vpc_endpoint"
        eni.description = f"VPC Endpoint Interface {endpoint.id}"
        eni.requester_managed = True
        eni.requester_id = VPCE_REQUESTER
        eni.status = "in-use"
        eni._group_set = [g for g in (backend.get_security_group_from_id(gid) for gid in groups) if g]
        if eni.subnet is not None and not ipaddress.ip_address(eni.private_ip_address) in ipaddress.ip_network(
            eni.subnet.cidr_block, strict=False
        ):
            eni.private_ip_address = _ip_in(eni.subnet)
            eni.private_ip_addresses = [{"Primary": True, "PrivateIpAddress": eni.private_ip_address}]


def create_service_interface(account: str, region: str, subnet_id: str, group_ids: list[str],
                             interface_type: str, description: str, requester_id: str) -> dict[str, Any]:
    """A network interface as an AWS service creates it in the customer's
    subnet (Lambda: type lambda, "AWS Lambda VPC ENI-…"; NAT gateway: type
    nat_gateway, "Interface for NAT Gateway nat-…")."""
    backend = ec2_backends[account][region]
    eni = _service_interface(backend, subnet_id, group_ids, interface_type, description, requester_id)
    return {"NetworkInterfaceId": eni.id}


def _patch_load_balancer_interfaces() -> None:
    """AWS: a Network or Gateway Load Balancer has a requester-managed
    network interface per subnet ("ELB net/<name>/<id>"), carrying the load
    balancer's security groups; they go with the load balancer, which cannot
    be deleted while an endpoint service uses it (ResourceInUse)."""
    original_create = elbv2_models.ELBv2Backend.create_load_balancer
    original_delete = elbv2_models.ELBv2Backend.delete_load_balancer

    def create_load_balancer(self, *args, **kwargs):
        lb = original_create(self, *args, **kwargs)
        kind = {"network": ("network_load_balancer", "net"), "gateway": ("gateway_load_balancer", "gwy")}.get(lb.type)
        if kind:
            backend = ec2_backends[self.account_id][self.region_name]
            suffix = lb.arn.split(":loadbalancer/", 1)[-1]
            lb._sim_interfaces = [
                _service_interface(backend, subnet.id, list(lb.security_groups or []), kind[0], f"ELB {suffix}",
                                   ELB_REQUESTER).id
                for subnet in lb.subnets
            ]
        return lb

    def delete_load_balancer(self, arn: str) -> None:
        for account in list(ec2_backends.keys()):
            backend = ec2_backends[account][self.region_name]
            for config in getattr(backend, "configurations", {}).values():
                arns = list(config.network_load_balancer_arns or []) + list(config.gateway_load_balancer_arns or [])
                if arn in arns and config.service_state != "Deleted":
                    raise ResourceInUseError(
                        f"Load balancer '{arn}' cannot be deleted because it is currently associated with another service"
                    )
        lb = self.load_balancers.get(arn)
        if lb is not None:
            backend = ec2_backends[self.account_id][self.region_name]
            for eni_id in getattr(lb, "_sim_interfaces", []):
                backend.enis.pop(eni_id, None)
        return original_delete(self, arn)

    elbv2_models.ELBv2Backend.create_load_balancer = create_load_balancer
    elbv2_models.ELBv2Backend.delete_load_balancer = delete_load_balancer


def _references_to(group_id: str, group: Any) -> bool:
    rules = list(group.ingress_rules) + list(group.egress_rules)
    return any((r.source_group or {}).get("GroupId") == group_id for r in rules)


def _peering(backend: Any, vpc_a: str, vpc_b: str) -> str | None:
    for account in list(ec2_backends.keys()):
        for pcx in getattr(ec2_backends[account][backend.region_name], "vpc_pcxs", {}).values():
            ends = {pcx.vpc.id, pcx.peer_vpc.id}
            if ends == {vpc_a, vpc_b} and pcx._status.code == "active":
                return pcx.id
    return None


def _all_groups(region: str) -> list[Any]:
    groups = []
    for account in list(ec2_backends.keys()):
        backend = ec2_backends[account][region]
        for by_vpc in list(backend.groups.values()):
            groups.extend(by_vpc.values())
    return groups


def _patch_security_groups() -> None:
    """AWS refuses DeleteSecurityGroup for a VPC's default group
    (CannotDelete), and with DependencyViolation ("resource sg-… has a
    dependent object") while a network interface uses the group or another
    group's rule (in this VPC or a peered one) references it."""
    original = SecurityGroupBackend.delete_security_group

    def delete_security_group(self, name=None, group_id=None):
        group = self.get_security_group_by_name_or_id(group_id or name)
        if group is not None:
            if group.name == "default" and group.vpc_id:
                raise CannotDelete(group.id, group.name)
            in_use = any(group.id in [g.id for g in eni.group_set] for eni in list(self.enis.values()))
            referenced = any(
                other.id != group.id and _references_to(group.id, other) for other in _all_groups(self.region_name)
            )
            if in_use or referenced:
                raise DependencyViolationError(f"resource {group.id} has a dependent object")
        return original(self, name=name, group_id=group_id)

    SecurityGroupBackend.delete_security_group = delete_security_group

    def describe_security_group_references(self) -> ActionResult:
        """Groups in peered VPCs whose rules reference the given groups."""
        wanted = self._get_param("GroupId", [])
        references = []
        for group_id in wanted:
            group = self.ec2_backend.get_security_group_from_id(group_id)
            if group is None:
                continue
            for other in _all_groups(self.region):
                if other.vpc_id == group.vpc_id or not _references_to(group_id, other):
                    continue
                pcx = _peering(self.ec2_backend, group.vpc_id, other.vpc_id)
                references.append({
                    "GroupId": group_id,
                    "ReferencingVpcId": other.vpc_id,
                    "VpcPeeringConnectionId": pcx,
                })
        return ActionResult({"SecurityGroupReferenceSet": references})

    EC2Response.describe_security_group_references = describe_security_group_references


def _patch_prefix_lists() -> None:
    """AWS: DescribePrefixLists gives each AWS-managed prefix list's CIDRs."""

    def describe_prefix_lists(self) -> ActionResult:
        ids = self._get_param("PrefixListIds", [])
        lists = self.ec2_backend.describe_managed_prefix_lists(prefix_list_ids=ids, filters=self._filters_from_querystring())
        found = []
        for pl in lists:
            if not pl.prefix_list_name.startswith("com.amazonaws."):
                continue
            entries = pl.entries.get(pl.version) or next(iter(pl.entries.values()), [])
            found.append({"PrefixListId": pl.id, "PrefixListName": pl.prefix_list_name,
                          "Cidrs": [e["Cidr"] for e in entries]})
        return ActionResult({"PrefixLists": found})

    EC2Response.describe_prefix_lists = describe_prefix_lists


def _patch_endpoint_interfaces() -> None:
    """Endpoint ENIs follow the endpoint's security groups when
    ModifyVpcEndpoint adds or removes some."""
    original = EC2Response.modify_vpc_endpoint

    def modify(self) -> ActionResult:
        result = original(self)
        endpoint = self.ec2_backend.vpc_end_points.get(self._get_param("VpcEndpointId"))
        if endpoint is not None:
            dress_endpoint_interfaces(self.ec2_backend, endpoint)
        return result

    EC2Response.modify_vpc_endpoint = modify


# --- CloudTrail event history ------------------------------------------------------


def record_event(account: str, region: str, event: dict[str, Any]) -> dict[str, Any]:
    """A management event as CloudTrail records it: `eventName`, `username`
    (for AWS services, the service principal, e.g. rds.amazonaws.com),
    `resources` ([{"type", "name"}]), `daysAgo` (AWS keeps 90 days)."""
    when = datetime.now(timezone.utc) - timedelta(days=float(event.get("daysAgo", 0)))
    username = event.get("username", "")
    stored = {
        "EventId": str(uuid.uuid4()),
        "EventName": event["eventName"],
        "ReadOnly": "false",
        "EventTime": when.timestamp(),
        "EventSource": event.get("eventSource", "ec2.amazonaws.com"),
        "Username": username,
        "Resources": [{"ResourceType": r.get("type"), "ResourceName": r["name"]} for r in event.get("resources", [])],
        "CloudTrailEvent": json.dumps({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AWSService", "invokedBy": username} if username.endswith(".amazonaws.com")
            else {"type": "IAMUser", "userName": username},
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": event.get("eventSource", "ec2.amazonaws.com"),
            "eventName": event["eventName"],
            "awsRegion": region,
            "sourceIPAddress": username or "203.0.113.10",
        }),
    }
    with TRAIL_LOCK:
        TRAIL.setdefault((account, region), []).append(stored)
    return {"EventId": stored["EventId"]}


def lookup_events(account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
    """CloudTrail LookupEvents: the last 90 days, newest first, filtered by
    one lookup attribute (EventName, ResourceName, ResourceType, Username,
    EventSource, EventId, ReadOnly), paged by MaxResults (≤ 50)."""
    horizon = (datetime.now(timezone.utc) - timedelta(days=90)).timestamp()
    attributes = body.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise ValueError("InvalidLookupAttributesException: only one lookup attribute is allowed")
    with TRAIL_LOCK:
        events = [e for e in TRAIL.get((account, region), []) if e["EventTime"] >= horizon]
    if attributes:
        key, value = attributes[0]["AttributeKey"], attributes[0]["AttributeValue"]
        def keep(e: dict[str, Any]) -> bool:
            if key == "ResourceName":
                return any(r["ResourceName"] == value for r in e["Resources"])
            if key == "ResourceType":
                return any(r["ResourceType"] == value for r in e["Resources"])
            return str(e.get(key, "")) == value
        events = [e for e in events if keep(e)]
    if body.get("StartTime") is not None:
        events = [e for e in events if e["EventTime"] >= float(body["StartTime"])]
    if body.get("EndTime") is not None:
        events = [e for e in events if e["EventTime"] <= float(body["EndTime"])]
    events.sort(key=lambda e: e["EventTime"], reverse=True)
    start = int(body.get("NextToken") or 0)
    size = min(int(body.get("MaxResults") or 50), 50)
    page = events[start:start + size]
    result: dict[str, Any] = {"Events": page}
    if start + size < len(events):
        result["NextToken"] = str(start + size)
    return result


def reset() -> None:
    with TRAIL_LOCK:
        TRAIL.clear()


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _patch_load_balancer_interfaces()
    _patch_security_groups()
    _patch_endpoint_interfaces()
    _patch_prefix_lists()
    _installed = True
