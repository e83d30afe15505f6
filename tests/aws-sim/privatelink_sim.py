"""Extensions to moto 5.2.5 so that it answers as AWS does where the
operator depends on it (see README.md beside this file). Each patch names
the AWS behaviour it restores. Loaded into the moto server process by
server.py before the server starts.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any

import moto.ec2.models.vpc_service_configuration as vsc_models
import moto.ec2.models.vpcs as vpc_models
import moto.elbv2.models as elbv2_models
from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidParameterValue,
    InvalidServiceName,
    InvalidVpcEndPointIdError,
)
from moto.ec2.models import ec2_backends
from moto.ec2.responses import EC2Response
from moto.ec2.responses.vpc_service_configuration import VPCEndpointServiceConfiguration

import network_sim

STATE_LOCK = threading.RLock()

# Notifications AWS would have published, in order: readable through /_sim/notifications.
PUBLISHED: list[dict[str, Any]] = []

EVENTS = {"Connect", "Accept", "Delete", "Reject"}
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
AWS_SERVICE_NAME = re.compile(r"^com\.amazonaws\.([a-z0-9-]+)\.[a-z0-9.-]+$")
CUSTOM_SERVICE_NAME = re.compile(r"^com\.amazonaws\.vpce\.([a-z0-9-]+)\.(vpce-svc-[0-9a-f]+)$")


class SimError(EC2ClientError):
    """An EC2 error with AWS's code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _random_hex(n: int) -> str:
    return "".join(random.choice("0123456789abcdef") for _ in range(n))


def _backends_in(region: str) -> list[Any]:
    """Every account's EC2 backend in `region`."""
    return [ec2_backends[account][region] for account in list(ec2_backends.keys())]


def _find_service(service_id: str, region: str | None = None) -> tuple[Any, Any] | None:
    """(backend, configuration) of an endpoint service, in any account."""
    for account in list(ec2_backends.keys()):
        regions = [region] if region else list(ec2_backends[account].keys())
        for r in regions:
            backend = ec2_backends[account][r]
            config = getattr(backend, "configurations", {}).get(service_id)
            if config is not None:
                return backend, config
    return None


def _find_endpoint(endpoint_id: str) -> tuple[Any, Any] | None:
    for account in list(ec2_backends.keys()):
        for region in list(ec2_backends[account].keys()):
            backend = ec2_backends[account][region]
            endpoint = backend.vpc_end_points.get(endpoint_id)
            if endpoint is not None:
                return backend, endpoint
    return None


def _token_record(backend: Any) -> dict[str, Any]:
    if not hasattr(backend, "_sim_client_tokens"):
        backend._sim_client_tokens = {}
    return backend._sim_client_tokens


def _idempotent(backend: Any, kind: str, token: str | None, params: dict[str, Any]) -> Any | None:
    """AWS idempotency: the same ClientToken with the same parameters returns
    the resource of the first call, even after that resource was deleted
    (EC2 keeps tokens for a while: re-creating needs a new token); other
    parameters are refused."""
    if not token:
        return None
    record = _token_record(backend).get((kind, token))
    if record is None:
        return None
    fingerprint, resource = record
    if fingerprint != json.dumps(params, sort_keys=True, default=str):
        raise SimError(
            "IdempotentParameterMismatch",
            f"The client token '{token}' was already used with different parameters.",
        )
    return resource


def _remember_token(backend: Any, kind: str, token: str | None, params: dict[str, Any], resource: Any) -> None:
    if token:
        _token_record(backend)[(kind, token)] = (json.dumps(params, sort_keys=True, default=str), resource)


# --- Load balancers ---------------------------------------------------------


def _fix_load_balancer_arn_type() -> None:
    """AWS ARNs name the load balancer type: loadbalancer/net/… for Network,
    loadbalancer/gwy/… for Gateway, loadbalancer/app/… for Application Load
    Balancers. moto 5.2.5 writes app/ for every type."""
    original = elbv2_models.ELBv2Backend.create_load_balancer

    def create_load_balancer(self, *args, **kwargs):
        lb = original(self, *args, **kwargs)
        segment = {"network": "/net/", "gateway": "/gwy/"}.get(lb.type)
        if segment and "/app/" in lb.arn:
            old = lb.arn
            lb.arn = old.replace(":loadbalancer/app/", ":loadbalancer" + segment, 1)
            self.load_balancers[lb.arn] = self.load_balancers.pop(old)
        return lb

    elbv2_models.ELBv2Backend.create_load_balancer = create_load_balancer


# --- Endpoint service configurations ----------------------------------------


def _patch_service_configuration_model() -> None:
    cls = vsc_models.VPCServiceConfiguration
    original_init = cls.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # AWS names the type of a Gateway Load Balancer service GatewayLoadBalancer.
        if self.gateway_load_balancer_arns:
            self._service_type_name = "GatewayLoadBalancer"
        self.supported_ip_address_types = ["ipv4"]
        self.connections: dict[str, dict[str, Any]] = {}
        self.private_dns_state = "pendingVerification" if self.private_dns_name else None
        self.private_dns_txt_name = f"_{_random_hex(12)}"
        self.private_dns_txt_value = f"vpce:{_random_hex(20)}"

    def private_dns_name_configuration(self) -> dict[str, str]:
        """AWS: a new private DNS name waits in pendingVerification until the
        domain's TXT record is verified (here: the /_sim/private-dns control)."""
        if not self.private_dns_name:
            return {}
        return {
            "State": self.private_dns_state or "pendingVerification",
            "Type": "TXT",
            "Value": self.private_dns_txt_value,
            "Name": self.private_dns_txt_name,
        }

    def load_balancer_subnets(self) -> list[Any]:
        from moto.elbv2.models import elbv2_backends

        backend = getattr(self, "ec2_backend", None)
        if backend is None:  # moto's __init__ lists zones before it has a backend
            return []
        lbs = elbv2_backends[backend.account_id][backend.region_name].load_balancers
        arns = list(self.network_load_balancer_arns) + list(self.gateway_load_balancer_arns)
        return [s for arn in arns if arn in lbs for s in lbs[arn].subnets]

    def zones(self) -> list[str]:
        """AWS: a service serves the Availability Zones its load balancers
        are in now (a load balancer's subnets can change)."""
        return sorted({s.availability_zone for s in load_balancer_subnets(self)})

    def zone_ids(self) -> list[str]:
        return sorted({_az_id(self.ec2_backend, s.availability_zone) for s in load_balancer_subnets(self)})

    cls.__init__ = __init__
    cls.private_dns_name_configuration = property(private_dns_name_configuration)
    cls.availability_zones = property(zones, lambda self, value: None)
    cls.availability_zone_ids = property(zone_ids, lambda self, value: None)


def _patch_service_configuration_responses() -> None:
    original_create = VPCEndpointServiceConfiguration.create_vpc_endpoint_service_configuration
    original_modify = VPCEndpointServiceConfiguration.modify_vpc_endpoint_service_configuration
    original_delete = VPCEndpointServiceConfiguration.delete_vpc_endpoint_service_configurations

    def create(self) -> ActionResult:
        backend = self.ec2_backend
        params = {
            "nlb": self._get_param("NetworkLoadBalancerArns", []),
            "gwlb": self._get_param("GatewayLoadBalancerArns", []),
            "acceptance": self._get_param("AcceptanceRequired"),
            "dns": self._get_param("PrivateDnsName"),
            "regions": self._get_param("SupportedRegions", []),
            "ip": self._get_param("SupportedIpAddressTypes", []),
        }
        token = self._get_param("ClientToken")
        with STATE_LOCK:
            existing = _idempotent(backend, "service", token, params)
            if existing is not None:
                return ActionResult({"ServiceConfiguration": existing, "ClientToken": token})
            lbs = backend.elbv2_backend.describe_load_balancers(arns=params["nlb"] + params["gwlb"], names=None)
            remote = [r for r in params["regions"] if r != self.region]
            # AWS: "Services must support at least 2 availability zones for cross region".
            if remote and any(len({s.availability_zone for s in lb.subnets}) < 2 for lb in lbs):
                raise InvalidParameterValue("Services must support at least 2 availability zones for cross region")
            for ip in params["ip"]:
                if ip not in ("ipv4", "ipv6"):
                    raise InvalidParameterValue(f"Invalid SupportedIpAddressType: {ip}")
            result = original_create(self)
            config = result.result["ServiceConfiguration"]
            if params["ip"]:
                config.supported_ip_address_types = list(params["ip"])
            _remember_token(backend, "service", token, params, config)
            return ActionResult({"ServiceConfiguration": config, "ClientToken": token})

    def modify(self) -> ActionResult:
        service_id = self._get_param("ServiceId")
        with STATE_LOCK:
            config = _service_of_caller(self, service_id)
            add_ip = self._get_param("AddSupportedIpAddressTypes", [])
            remove_ip = self._get_param("RemoveSupportedIpAddressTypes", [])
            for ip in add_ip + remove_ip:
                if ip not in ("ipv4", "ipv6"):
                    raise InvalidParameterValue(f"Invalid SupportedIpAddressType: {ip}")
            remaining = [t for t in config.supported_ip_address_types + add_ip if t not in remove_ip]
            if not remaining:
                raise InvalidParameterValue("An endpoint service must support at least one IP address type.")
            for region in self._get_param("RemoveSupportedRegions", []):
                if region not in config._supported_region_names:
                    raise InvalidParameterValue(f"Region {region} is not a supported region of {service_id}")
            removing = self._get_param("RemoveNetworkLoadBalancerArns", []) + self._get_param("RemoveGatewayLoadBalancerArns", [])
            for arn in removing:
                if arn not in config.network_load_balancer_arns + config.gateway_load_balancer_arns:
                    raise InvalidParameterValue(f"Load balancer {arn} is not associated with {service_id}")
            holders = [c["endpoint_id"] for c in config.connections.values() if c["state"] in ("available", "pendingAcceptance", "pending")]
            if removing and holders:
                # AWS: load balancers cannot be removed while endpoints are attached.
                raise SimError(
                    "InvalidParameter",
                    f"Cannot remove load balancers from service {service_id} with existing endpoint connections",
                )
            result = original_modify(self)
            config.supported_ip_address_types = sorted(set(remaining))
            if self._get_bool_param("RemovePrivateDnsName", if_none=False):
                config.private_dns_name = None
                config.private_dns_state = None
            elif self._get_param("PrivateDnsName"):
                config.private_dns_state = "pendingVerification"
            return result

    def delete(self) -> ActionResult:
        """AWS refuses to delete a service that still has available or
        pendingAcceptance connections (ExistingVpcEndpointConnections)."""
        ids = self._get_param("ServiceIds", [])
        unsuccessful = []
        deletable = []
        with STATE_LOCK:
            for service_id in ids:
                config = self.ec2_backend.configurations.get(service_id)
                if config is None:
                    unsuccessful.append(_unsuccessful(service_id, "InvalidVpcEndpointService.NotFound",
                                                      f"The VpcEndpointService Id '{service_id}' does not exist"))
                    continue
                active = [c for c in config.connections.values() if c["state"] in ("available", "pendingAcceptance")]
                if active:
                    unsuccessful.append(_unsuccessful(
                        service_id, "ExistingVpcEndpointConnections",
                        f"Service {service_id} has existing active VPC Endpoint connections",
                    ))
                    continue
                deletable.append(service_id)
                config.service_state = "Deleted"
            self.ec2_backend.delete_vpc_endpoint_service_configurations(deletable)
        return ActionResult({"Unsuccessful": unsuccessful})

    def describe(self) -> ActionResult:
        """Filters as AWS applies them: service-id, service-name,
        service-state, tag-key, tag:<key> (moto ignores them)."""
        configs = self.ec2_backend.describe_vpc_endpoint_service_configurations(self._get_param("ServiceIds", []))
        filters = self._filters_from_querystring() or {}

        def matches(config: Any) -> bool:
            tags = {t["key"]: t["value"] for t in config.get_tags()}
            for name, values in filters.items():
                if name == "service-id" and config.id not in values:
                    return False
                if name == "service-name" and config.service_name not in values:
                    return False
                if name == "service-state" and config.service_state not in values:
                    return False
                if name == "tag-key" and not any(k in values for k in tags):
                    return False
                if name.startswith("tag:") and tags.get(name[4:]) not in values:
                    return False
            return True

        return ActionResult({"ServiceConfigurations": [c for c in configs if matches(c)]})

    VPCEndpointServiceConfiguration.create_vpc_endpoint_service_configuration = create
    VPCEndpointServiceConfiguration.describe_vpc_endpoint_service_configurations = describe
    VPCEndpointServiceConfiguration.modify_vpc_endpoint_service_configuration = modify
    VPCEndpointServiceConfiguration.delete_vpc_endpoint_service_configurations = delete


def _az_id(backend: Any, az_name: str) -> str:
    for zone in backend.describe_availability_zones():
        if zone.name == az_name:
            return zone.zone_id
    return az_name


def _unsuccessful(resource_id: str, code: str, message: str) -> dict[str, Any]:
    return {"ResourceId": resource_id, "Error": {"Code": code, "Message": message}}


def _service_of_caller(response: Any, service_id: str) -> Any:
    config = response.ec2_backend.configurations.get(service_id)
    if config is None:
        raise SimError("InvalidVpcEndpointServiceId.NotFound", f"The VpcEndpointService Id '{service_id}' does not exist")
    return config


# --- Permissions ---------------------------------------------------------------


def _caller_principals(response: Any) -> set[str]:
    account = response.current_account
    return {f"arn:aws:iam::{account}:root"}


def _allowed(config: Any, account: str, principals: set[str]) -> bool:
    """A consumer may connect when its account owns the service or a
    principal of its account (or `*`) is allowed."""
    if config.ec2_backend.account_id == account:
        return True
    allowed = set(config.principals)
    return "*" in allowed or bool(principals & allowed)


# AWS services AWS makes reachable from other regions ("Cross-region enabled
# AWS services", VPC PrivateLink guide, since Nov 2025), by the last part of
# their name; every other AWS service stays regional.
CROSS_REGION_AWS_SERVICES = {
    "s3", "ecr.api", "ecr.dkr", "kms", "kms-fips", "ecs", "lambda",
    "kinesis-firehose", "kinesisanalytics", "kinesisanalytics-fips",
}


def _aws_service_short_name(service_name: str) -> str | None:
    m = AWS_SERVICE_NAME.match(service_name)
    return service_name[len(f"com.amazonaws.{m.group(1)}."):] if m else None


def _visible_services(backend: Any, account: str, caller_region: str, service_region: str) -> list[dict[str, Any]]:
    """The services a consumer in `caller_region` can see in
    `service_region`: AWS's own (only the cross-region capable ones from
    another region) and endpoint services that allow its account (and, from
    another region, list the caller's region in their supported regions)."""
    remote = service_region != caller_region
    aws_services = [
        dict(d, ServiceRegion=service_region) if remote
        else dict(d, AvailabilityZoneIds=[_az_id(backend, z) for z in d.get("AvailabilityZones", [])])
        for d in backend._collect_default_endpoint_services(account, service_region)
        if not remote or _aws_service_short_name(d["ServiceName"]) in CROSS_REGION_AWS_SERVICES
    ]
    custom = [
        dict(config.to_dict(), AvailabilityZoneIds=config.availability_zone_ids, ServiceRegion=service_region)
        for b in _backends_in(service_region)
        for config in list(b.configurations.values())
        if _allowed(config, account, {f"arn:aws:iam::{account}:root"})
        and (not remote or caller_region in config._supported_region_names)
    ]
    return aws_services + custom


def _patch_service_discovery() -> None:
    """AWS: DescribeVpcEndpointServices shows a consumer the endpoint
    services of other accounts that allow it, and hides the others (a name
    it may not use is InvalidServiceName); with ServiceRegions it shows what
    the consumer's region can reach in those regions."""

    def describe_vpc_endpoint_services(self, service_names, filters, max_results, next_token, region, service_regions=None):
        all_services = []
        for service_region in service_regions or [region]:
            all_services += _visible_services(self, self.account_id, region, service_region)
        known = {x["ServiceName"] for x in all_services}
        for name in service_names:
            if name not in known:
                raise InvalidServiceName(name)
        found = sorted(self._filter_endpoint_services(service_names, filters, all_services), key=lambda x: x["ServiceName"])
        page, token = _page(found, max_results, next_token)
        return {"servicesDetails": page, "serviceNames": [x["ServiceName"] for x in page], "nextToken": token}

    def describe_response(self) -> ActionResult:
        services = self.ec2_backend.describe_vpc_endpoint_services(
            service_names=self._get_param("ServiceNames", []),
            filters=self._get_param("Filters", []),
            max_results=self._get_int_param("MaxResults"),
            next_token=self._get_param("NextToken"),
            region=self.region,
            service_regions=self._get_param("ServiceRegions", []),
        )
        return ActionResult({
            "ServiceNames": services["serviceNames"],
            "ServiceDetails": services["servicesDetails"],
            "NextToken": services["nextToken"],
        })

    vpc_models.VPCBackend.describe_vpc_endpoint_services = describe_vpc_endpoint_services
    EC2Response.describe_vpc_endpoint_services = describe_response


# --- VPC endpoints -------------------------------------------------------------


def _patch_endpoints() -> None:
    original_create = EC2Response.create_vpc_endpoint
    original_modify = EC2Response.modify_vpc_endpoint

    def resolve_service(response: Any, service_name: str, service_region: str | None) -> Any | None:
        """The configuration a service name refers to, applying AWS's rules
        for cross-region endpoints; None for AWS services."""
        region = response.region
        custom = CUSTOM_SERVICE_NAME.match(service_name)
        if custom:
            name_region, service_id = custom.groups()
            target_region = service_region or region
            if name_region != target_region:
                raise InvalidServiceName(service_name)
            found = _find_service(service_id, name_region)
            if found is None:
                raise InvalidServiceName(service_name)
            _, config = found
            if not _allowed(config, response.current_account, _caller_principals(response)):
                raise InvalidServiceName(service_name)
            if target_region != region and region not in config._supported_region_names:
                raise InvalidServiceName(service_name)
            return config
        aws = AWS_SERVICE_NAME.match(service_name)
        if aws:
            target_region = service_region or region
            if aws.group(1) != target_region:
                raise InvalidServiceName(service_name)
            # Cross-region reaches only the AWS services AWS made cross-region capable.
            if target_region != region and _aws_service_short_name(service_name) not in CROSS_REGION_AWS_SERVICES:
                raise InvalidServiceName(service_name)
            known = {s["ServiceName"] for s in response.ec2_backend._collect_default_endpoint_services(response.current_account, target_region)}
            if service_name not in known:
                raise InvalidServiceName(service_name)
            return None
        raise InvalidServiceName(service_name)

    def create(self) -> ActionResult:
        service_name = self._get_param("ServiceName")
        service_region = self._get_param("ServiceRegion")
        token = self._get_param("ClientToken")
        params = {
            "vpc": self._get_param("VpcId"),
            "service": service_name,
            "service_region": service_region,
            "type": self._get_param("VpcEndpointType"),
            "subnets": self._get_param("SubnetIds", []),
            "groups": self._get_param("SecurityGroupIds", []),
            "ip": self._get_param("IpAddressType"),
            "dns": self._get_param("DnsOptions"),
            "private_dns": self._get_param("PrivateDnsEnabled"),
            "policy": self._get_param("PolicyDocument"),
        }
        backend = self.ec2_backend
        with STATE_LOCK:
            existing = _idempotent(backend, "endpoint", token, params)
            if existing is not None:
                return ActionResult({"VpcEndpoint": existing, "ClientToken": token})
            config = resolve_service(self, service_name, service_region)
            if config is not None and (service_region or self.region) == self.region:
                outside = sorted({
                    _az_id(backend, backend.get_subnet(sid).availability_zone) for sid in params["subnets"]
                } - set(config.availability_zone_ids))
                if outside:
                    raise InvalidParameterValue(
                        f"The Vpc Endpoint Service '{config.id}' does not support the availability zone(s) {', '.join(outside)} of the subnet(s)"
                    )
            result = original_create(self)
            endpoint = result.result["VpcEndpoint"]
            endpoint.ip_address_type = params["ip"] or "ipv4"
            endpoint.dns_options = params["dns"] or {"DnsRecordIpType": "ipv4"}
            endpoint.requester_managed = False
            endpoint.service_region = service_region or self.region
            endpoint.private_dns_enabled = bool(params["private_dns"]) if params["private_dns"] is not None else config is None
            if config is not None:
                state = "pendingAcceptance" if config.acceptance_required else "available"
                endpoint.state = state
                config.connections[endpoint.id] = {
                    "endpoint_id": endpoint.id,
                    "owner": self.current_account,
                    "region": self.region,
                    "state": state,
                    "created": _now(),
                    "ip_address_type": endpoint.ip_address_type,
                    "dns_entries": endpoint.dns_entries,
                }
                endpoint._sim_service = config
                _publish(config, endpoint.id, "Connect")
            network_sim.dress_endpoint_interfaces(backend, endpoint)
            _remember_token(backend, "endpoint", token, params, endpoint)
            return ActionResult({"VpcEndpoint": endpoint, "ClientToken": token})

    def modify(self) -> ActionResult:
        endpoint_id = self._get_param("VpcEndpointId")
        with STATE_LOCK:
            endpoint = self.ec2_backend.vpc_end_points.get(endpoint_id)
            if endpoint is None:
                raise InvalidVpcEndPointIdError(endpoint_id)
            _refuse_requester_managed(endpoint)
            if self._get_param("ServiceRegion") is not None:
                raise SimError("InvalidParameter", "ServiceRegion cannot be modified; create a new endpoint")
            result = original_modify(self)
            if self._get_param("IpAddressType"):
                endpoint.ip_address_type = self._get_param("IpAddressType")
            if self._get_param("DnsOptions"):
                endpoint.dns_options = self._get_param("DnsOptions")
            if self._get_param("PrivateDnsEnabled") is not None:
                endpoint.private_dns_enabled = self._get_bool_param("PrivateDnsEnabled")
            return result

    def delete(self) -> ActionResult:
        """AWS: requester-managed endpoints cannot be deleted; deleted
        endpoints leave the listing; unknown ids come back as Unsuccessful."""
        ids = self._get_param("VpcEndpointIds", [])
        unsuccessful = []
        with STATE_LOCK:
            for endpoint_id in ids:
                endpoint = self.ec2_backend.vpc_end_points.get(endpoint_id)
                if endpoint is None or endpoint.state == "deleted":
                    unsuccessful.append(_unsuccessful(endpoint_id, "InvalidVpcEndpoint.NotFound",
                                                      f"The VpcEndpoint Id '{endpoint_id}' does not exist"))
                    continue
                if getattr(endpoint, "requester_managed", False):
                    unsuccessful.append(_unsuccessful(
                        endpoint_id, "OperationNotPermitted",
                        f"Operation is not allowed for requester-managed VPC endpoints for the service {endpoint.service_name}.",
                    ))
                    continue
                self.ec2_backend.delete_vpc_endpoints(vpce_ids=[endpoint_id])
                self.ec2_backend.vpc_end_points.pop(endpoint_id, None)
                config = getattr(endpoint, "_sim_service", None)
                if config is not None and endpoint_id in config.connections:
                    config.connections.pop(endpoint_id)
                    _publish(config, endpoint_id, "Delete")
        return ActionResult({"Unsuccessful": unsuccessful})

    def describe(self) -> ActionResult:
        """AWS supports the vpc-endpoint-id filter and pages with MaxResults."""
        ids = self._get_param("VpcEndpointIds", [])
        filters = self._filters_from_querystring()
        by_id = filters.pop("vpc-endpoint-id", None)
        endpoints = self.ec2_backend.describe_vpc_endpoints(vpc_end_point_ids=ids, filters=filters or None)
        if by_id:
            endpoints = [e for e in endpoints if e.id in by_id]
        page, next_token = _page(endpoints, self._get_int_param("MaxResults"), self._get_param("NextToken"))
        return ActionResult({"VpcEndpoints": page, "NextToken": next_token})

    EC2Response.create_vpc_endpoint = create
    EC2Response.modify_vpc_endpoint = modify
    EC2Response.delete_vpc_endpoints = delete
    EC2Response.describe_vpc_endpoints = describe
    vpc_models.VPCEndPoint.requester_managed = False
    vpc_models.VPCEndPoint.ip_address_type = "ipv4"
    vpc_models.VPCEndPoint.service_region = None
    vpc_models.VPCEndPoint.dns_options = None


def _refuse_requester_managed(endpoint: Any) -> None:
    """AWS: an endpoint an AWS service manages cannot be changed by the customer."""
    if getattr(endpoint, "requester_managed", False):
        raise SimError(
            "OperationNotPermitted",
            f"Operation is not allowed for requester-managed VPC endpoints for the service {endpoint.service_name}.",
        )


def _patch_tags() -> None:
    """AWS refuses CreateTags/DeleteTags on requester-managed endpoints."""
    original_create = EC2Response.create_tags
    original_delete = EC2Response.delete_tags

    def guarded(original):
        def handler(self) -> ActionResult:
            for resource_id in self._get_param("Resources", []):
                endpoint = self.ec2_backend.vpc_end_points.get(resource_id)
                if endpoint is not None:
                    _refuse_requester_managed(endpoint)
            return original(self)
        return handler

    EC2Response.create_tags = guarded(original_create)
    EC2Response.delete_tags = guarded(original_delete)


def _page(items: list[Any], max_results: int | None, next_token: str | None) -> tuple[list[Any], str | None]:
    start = int(next_token) if next_token else 0
    size = max_results or 1000
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


# --- Endpoint connections ------------------------------------------------------


def _connection_view(config: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServiceId": config.id,
        "VpcEndpointId": c["endpoint_id"],
        "VpcEndpointOwner": c["owner"],
        "VpcEndpointState": c["state"],
        "CreationTimestamp": c["created"],
        "DnsEntries": c["dns_entries"] or [],
        "NetworkLoadBalancerArns": config.network_load_balancer_arns,
        "GatewayLoadBalancerArns": config.gateway_load_balancer_arns,
        "IpAddressType": c["ip_address_type"],
        "VpcEndpointConnectionId": "vpce-con-" + c["endpoint_id"][5:],
        "VpcEndpointRegion": c["region"],
    }


def _set_endpoint_state(endpoint_id: str, state: str) -> None:
    found = _find_endpoint(endpoint_id)
    if found is not None:
        found[1].state = state


def _patch_connections() -> None:
    def describe_vpc_endpoint_connections(self) -> ActionResult:
        filters = self._filters_from_querystring()
        rows = []
        with STATE_LOCK:
            for config in sorted(self.ec2_backend.configurations.values(), key=lambda c: c.id):
                for c in config.connections.values():
                    view = _connection_view(config, c)
                    if _match(filters, {
                        "service-id": view["ServiceId"],
                        "vpc-endpoint-id": view["VpcEndpointId"],
                        "vpc-endpoint-state": view["VpcEndpointState"],
                        "vpc-endpoint-owner": view["VpcEndpointOwner"],
                        "vpc-endpoint-region": view["VpcEndpointRegion"],
                    }):
                        rows.append(view)
        page, next_token = _page(rows, self._get_int_param("MaxResults"), self._get_param("NextToken"))
        return ActionResult({"VpcEndpointConnections": page, "NextToken": next_token})

    def decide(self, accept: bool) -> ActionResult:
        service_id = self._get_param("ServiceId")
        ids = self._get_param("VpcEndpointIds", [])
        unsuccessful = []
        # Only a pending connection can be accepted; an available one can still be rejected.
        allowed, new_state, event, verb = (
            (("pendingAcceptance",), "available", "Accept", "accepted")
            if accept
            else (("pendingAcceptance", "available"), "rejected", "Reject", "rejected")
        )
        with STATE_LOCK:
            config = _service_of_caller(self, service_id)
            for endpoint_id in ids:
                c = config.connections.get(endpoint_id)
                if c is None:
                    unsuccessful.append(_unsuccessful(endpoint_id, "InvalidVpcEndpointId.NotFound",
                                                      f"The VpcEndpoint Id '{endpoint_id}' does not exist"))
                    continue
                if c["state"] not in allowed:
                    unsuccessful.append(_unsuccessful(
                        endpoint_id, "InvalidState",
                        f"Endpoint {endpoint_id} is in state {c['state']} and cannot be {verb}",
                    ))
                    continue
                c["state"] = new_state
                _set_endpoint_state(endpoint_id, new_state)
                _publish(config, endpoint_id, event)
        return ActionResult({"Unsuccessful": unsuccessful})

    EC2Response.describe_vpc_endpoint_connections = describe_vpc_endpoint_connections
    EC2Response.accept_vpc_endpoint_connections = lambda self: decide(self, True)
    EC2Response.reject_vpc_endpoint_connections = lambda self: decide(self, False)


def _match(filters: dict[str, list[str]], values: dict[str, str]) -> bool:
    for name, wanted in filters.items():
        if name in values and values[name] not in wanted:
            return False
    return True


# --- Connection notifications --------------------------------------------------


def _notifications(backend: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "_sim_notifications"):
        backend._sim_notifications = {}
    return backend._sim_notifications


def _publish(config: Any, endpoint_id: str, event: str) -> None:
    """Record the notification AWS would publish for `event`."""
    targets = list(_notifications(config.ec2_backend).values())
    found = _find_endpoint(endpoint_id)
    if found is not None:
        targets += [n for n in _notifications(found[0]).values() if n.get("VpcEndpointId") == endpoint_id]
    for n in targets:
        if (n.get("ServiceId") in (None, config.id) or n.get("VpcEndpointId") == endpoint_id) and event in n["ConnectionEvents"]:
            PUBLISHED.append({
                "topicArn": n["ConnectionNotificationArn"],
                "notificationId": n["ConnectionNotificationId"],
                "event": event,
                "serviceId": config.id,
                "vpcEndpointId": endpoint_id,
                "time": _now().isoformat(),
            })


def _validate_notification(arn: str | None, events: list[str]) -> None:
    if not arn or not SNS_ARN.match(arn):
        raise InvalidParameterValue(f"Invalid SNS topic ARN: {arn}")
    bad = [e for e in events if e not in EVENTS]
    if not events or bad:
        raise InvalidParameterValue(
            f"Invalid connection events {bad or events}: valid values are Connect, Accept, Delete, Reject"
        )


def _patch_notifications() -> None:
    def create(self) -> ActionResult:
        service_id = self._get_param("ServiceId")
        endpoint_id = self._get_param("VpcEndpointId")
        arn = self._get_param("ConnectionNotificationArn")
        events = self._get_param("ConnectionEvents", [])
        _validate_notification(arn, events)
        with STATE_LOCK:
            if bool(service_id) == bool(endpoint_id):
                raise SimError("InvalidParameter", "Specify exactly one of ServiceId and VpcEndpointId")
            if service_id:
                _service_of_caller(self, service_id)
            elif endpoint_id not in self.ec2_backend.vpc_end_points:
                raise InvalidVpcEndPointIdError(endpoint_id)
            notifications = _notifications(self.ec2_backend)
            if any(n["ConnectionNotificationArn"] == arn and n.get("ServiceId") == service_id and n.get("VpcEndpointId") == endpoint_id
                   for n in notifications.values()):
                raise SimError("InvalidParameter", f"A connection notification for {arn} already exists")
            n = {
                "ConnectionNotificationId": f"vpce-nfn-{_random_hex(17)}",
                "ServiceId": service_id,
                "VpcEndpointId": endpoint_id,
                "ConnectionNotificationType": "Topic",
                "ConnectionNotificationArn": arn,
                "ConnectionEvents": list(events),
                "ConnectionNotificationState": "Enabled",
            }
            notifications[n["ConnectionNotificationId"]] = n
        return ActionResult({"ConnectionNotification": n, "ClientToken": self._get_param("ClientToken")})

    def modify(self) -> ActionResult:
        nid = self._get_param("ConnectionNotificationId")
        with STATE_LOCK:
            n = _notifications(self.ec2_backend).get(nid)
            if n is None:
                raise SimError("InvalidConnectionNotification", f"The connection notification '{nid}' does not exist")
            arn = self._get_param("ConnectionNotificationArn") or n["ConnectionNotificationArn"]
            events = self._get_param("ConnectionEvents") or n["ConnectionEvents"]
            _validate_notification(arn, events)
            n["ConnectionNotificationArn"] = arn
            n["ConnectionEvents"] = list(events)
        return ActionResult({"ReturnValue": True})

    def describe(self) -> ActionResult:
        nid = self._get_param("ConnectionNotificationId")
        filters = self._filters_from_querystring()
        with STATE_LOCK:
            rows = [
                n for n in _notifications(self.ec2_backend).values()
                if (not nid or n["ConnectionNotificationId"] == nid)
                and _match(filters, {
                    "connection-notification-arn": n["ConnectionNotificationArn"],
                    "connection-notification-id": n["ConnectionNotificationId"],
                    "service-id": n.get("ServiceId") or "",
                    "vpc-endpoint-id": n.get("VpcEndpointId") or "",
                })
            ]
        page, next_token = _page(rows, self._get_int_param("MaxResults"), self._get_param("NextToken"))
        return ActionResult({"ConnectionNotificationSet": page, "NextToken": next_token})

    def delete(self) -> ActionResult:
        ids = self._get_param("ConnectionNotificationIds", [])
        unsuccessful = []
        with STATE_LOCK:
            notifications = _notifications(self.ec2_backend)
            for nid in ids:
                if notifications.pop(nid, None) is None:
                    unsuccessful.append(_unsuccessful(nid, "InvalidConnectionNotification",
                                                      f"The connection notification '{nid}' does not exist"))
        return ActionResult({"Unsuccessful": unsuccessful})

    EC2Response.create_vpc_endpoint_connection_notification = create
    EC2Response.modify_vpc_endpoint_connection_notification = modify
    EC2Response.describe_vpc_endpoint_connection_notifications = describe
    EC2Response.delete_vpc_endpoint_connection_notifications = delete


# --- Private DNS verification ----------------------------------------------------


def _patch_private_dns() -> None:
    def start(self) -> ActionResult:
        service_id = self._get_param("ServiceId")
        with STATE_LOCK:
            config = _service_of_caller(self, service_id)
            if not config.private_dns_name:
                raise SimError("InvalidParameter", f"Service {service_id} has no private DNS name to verify")
            if config.private_dns_state != "verified":
                config.private_dns_state = "pendingVerification"
        return ActionResult({"ReturnValue": True})

    EC2Response.start_vpc_endpoint_service_private_dns_verification = start


# --- Control calls (used by server.py's /_sim/ endpoint) -----------------------------


def set_private_dns_state(service_id: str, state: str) -> dict[str, Any]:
    if state not in ("verified", "failed", "pendingVerification"):
        raise ValueError("state must be verified, failed or pendingVerification")
    with STATE_LOCK:
        found = _find_service(service_id)
        if found is None:
            raise KeyError(service_id)
        found[1].private_dns_state = state
        return found[1].private_dns_name_configuration


def create_requester_managed_endpoint(account: str, region: str, vpc_id: str, subnet_ids: list[str],
                                      service_name: str, tags: dict[str, str]) -> dict[str, Any]:
    """An endpoint as an AWS service (Network Firewall, RDS…) creates it in
    the customer's VPC: RequesterManaged, not deletable by the customer."""
    with STATE_LOCK:
        backend = ec2_backends[account][region]
        endpoint = backend.create_vpc_endpoint(
            vpc_id=vpc_id, service_name=service_name, endpoint_type="Interface",
            policy_document=None, route_table_ids=[], subnet_ids=subnet_ids, tags=tags,
        )
        endpoint.requester_managed = True
        endpoint.service_region = region
        network_sim.dress_endpoint_interfaces(backend, endpoint)
        return {"VpcEndpointId": endpoint.id}


def seed_endpoints(account: str, region: str, vpc_id: str, subnet_ids: list[str], group_ids: list[str],
                   service_name: str, tag_sets: list[dict[str, str]]) -> dict[str, Any]:
    """Interface endpoints as CreateVpcEndpoint would leave them, one per tag
    set, without spending the account's API budget (for the benchmark's
    10,000-object runs)."""
    ids = []
    with STATE_LOCK:
        backend = ec2_backends[account][region]
        custom = CUSTOM_SERVICE_NAME.match(service_name)
        config = _find_service(custom.group(2), region)[1] if custom else None
        for tags in tag_sets:
            endpoint = backend.create_vpc_endpoint(
                vpc_id=vpc_id, service_name=service_name, endpoint_type="Interface", policy_document=None,
                route_table_ids=[], subnet_ids=list(subnet_ids), security_group_ids=list(group_ids), tags=tags,
            )
            endpoint.requester_managed = False
            endpoint.service_region = region
            endpoint.private_dns_enabled = config is None
            if config is not None:
                endpoint.state = "pendingAcceptance" if config.acceptance_required else "available"
                config.connections[endpoint.id] = {
                    "endpoint_id": endpoint.id, "owner": account, "region": region, "state": endpoint.state,
                    "created": _now(), "ip_address_type": "ipv4", "dns_entries": endpoint.dns_entries,
                }
                endpoint._sim_service = config
            network_sim.dress_endpoint_interfaces(backend, endpoint)
            ids.append(endpoint.id)
    return {"VpcEndpointIds": ids}


def _patch_tag_lookup() -> None:
    """moto reads one resource's tags by scanning every tag of the account
    and region (a regular expression per tag), so a listing of N resources
    costs N times all their tags and a 10,000-endpoint listing takes minutes;
    AWS answers a page in constant time. Look the resource's tags up
    directly: the same answer, in time linear in the listing."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self) -> list[dict[str, str]]:
        resource_id = getattr(self, "id", None)
        if not resource_id:
            return []
        tags = self.ec2_backend.tags.get(resource_id) or {}
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": kind}
            for key, value in tags.items()
        ]

    TaggedEC2Resource.get_tags = get_tags


_installed = False


def install() -> None:
    """Apply every patch once."""
    global _installed
    if _installed:
        return
    _fix_load_balancer_arn_type()
    _patch_service_configuration_model()
    _patch_service_configuration_responses()
    _patch_service_discovery()
    _patch_endpoints()
    _patch_connections()
    _patch_notifications()
    _patch_private_dns()
    _patch_tags()
    _patch_tag_lookup()
    network_sim.install()
    _installed = True
