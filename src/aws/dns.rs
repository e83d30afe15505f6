//! CNAME chains, as a client resolves them: how doctor finds the database
//! (RDS Proxy, Aurora Serverless) whose DNS name leads to a requester-managed
//! endpoint.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

/// A DNS resolver: the system's, or the given server's.
pub struct Resolver(TokioResolver);

impl Resolver {
    /// The system's resolver, or `nameserver` (e.g. the VPC's Route 53
    /// Resolver, reached from outside the VPC through an inbound endpoint).
    pub fn new(nameserver: Option<SocketAddr>) -> Result<Self, String> {
        let builder = match nameserver {
            Some(addr) => TokioResolver::builder_with_config(
                ResolverConfig::from_parts(
                    None,
                    Vec::new(),
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true),
                ),
                TokioConnectionProvider::default(),
            ),
            None => TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?,
        };
        Ok(Self(builder.build()))
    }

    /// `host` and the names its CNAMEs lead to, in order (at most 16 hops).
    pub async fn cname_chain(&self, host: &str) -> Vec<String> {
        let mut chain = vec![host.trim_end_matches('.').to_ascii_lowercase()];
        while chain.len() <= 16 {
            let Ok(found) = self.0.lookup(format!("{}.", chain[chain.len() - 1]), RecordType::CNAME).await else {
                break;
            };
            let next = found.iter().find_map(|r| match r {
                RData::CNAME(target) => Some(target.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            });
            match next {
                Some(n) if !chain.contains(&n) => chain.push(n),
                _ => break,
            }
        }
        chain
    }
}
