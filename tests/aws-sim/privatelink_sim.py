"""Extensions to moto 5.2.5 so that it answers as AWS does where the
operator depends on it. Each patch names the AWS behaviour it restores.
"""

import moto.elbv2.models as elbv2_models


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


_installed = False


def install() -> None:
    """Apply every patch once."""
    global _installed
    if not _installed:
        _fix_load_balancer_arn_type()
        _installed = True
