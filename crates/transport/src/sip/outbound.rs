//! Outbound connections to trunk providers: resolve, connect, TLS client handshake, and
//! one live connection per `(trunk, transport, host, port)` reused for later requests.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use socket2::SockRef;
use tokio::net::TcpStream;

use super::error::{ConnectError, SendError};
use super::{Flow, FlowId, Inner, SipCounters, Transport, keepalive, lock, stream};

/// What makes two outbound connections interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    trunk: usize,
    transport: Transport,
    host: String,
    port: u16,
}

pub(super) async fn connect(
    inner: &Arc<Inner>,
    trunk: usize,
    host: &str,
    port: u16,
    transport: Transport,
) -> Result<FlowId, ConnectError> {
    if trunk >= inner.trunks.len() {
        return Err(ConnectError::UnknownTrunk(trunk));
    }
    if transport == Transport::Udp {
        let addrs = resolve(host, port).await?;
        let mut last = None;
        for a in addrs {
            match inner.udp_flow_to(trunk, a) {
                Ok(id) => return Ok(id),
                Err(e) => last = Some(e),
            }
        }
        return Err(ConnectError::Send(last.unwrap_or_else(|| {
            SendError::NoUdpSocket(SocketAddr::from(([0, 0, 0, 0], port)))
        })));
    }
    let key = Key {
        trunk,
        transport,
        host: host.to_ascii_lowercase(),
        port,
    };
    let slot = lock(&inner.outbound).entry(key).or_default().clone();
    // Held across the connect: a second caller for the same trunk waits for this
    // connection instead of opening its own.
    let mut slot = slot.lock().await;
    if let Some(id) = *slot
        && lock(&inner.flows).contains(id)
    {
        return Ok(id);
    }
    let result = open(inner, trunk, host, port, transport).await;
    let counters = &inner.counters;
    match &result {
        Ok(id) => {
            SipCounters::inc(&counters.outbound_connects);
            *slot = Some(*id);
            tracing::info!(flow = %id, trunk = %inner.trunks[trunk].name, host, port, transport = transport.as_str(), "connected to trunk");
        }
        Err(e) => {
            SipCounters::inc(&counters.outbound_connect_failures);
            tracing::warn!(trunk = %inner.trunks[trunk].name, host, port, transport = transport.as_str(), error = %e, "connecting to trunk failed");
        }
    }
    result
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| ConnectError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::NoAddress {
            host: host.to_owned(),
        });
    }
    Ok(addrs)
}

/// Tries each resolved address in turn (connect + TLS within the connect timeout).
async fn open(
    inner: &Arc<Inner>,
    trunk: usize,
    host: &str,
    port: u16,
    transport: Transport,
) -> Result<FlowId, ConnectError> {
    let config = &inner.trunks[trunk];
    let tls = match transport {
        Transport::Tls => {
            let connector = inner.client_tls.connector(trunk, config)?;
            let name = config.tls.sni.as_deref().unwrap_or(host);
            let name =
                ServerName::try_from(name.to_owned()).map_err(|_| ConnectError::ServerName {
                    name: name.to_owned(),
                })?;
            Some((connector, name))
        }
        Transport::Tcp | Transport::Udp => None,
    };
    let mut last = None;
    for addr in resolve(host, port).await? {
        let attempt = async {
            let tcp = TcpStream::connect(addr).await?;
            let _ = tcp.set_nodelay(true);
            let keepalive =
                keepalive::configure(SockRef::from(&tcp), inner.limits.tcp_keepalive.as_ref());
            let local = tcp.local_addr()?;
            let make = move |id| Flow {
                id,
                remote: addr,
                local,
                transport,
                trunk,
                outbound: true,
            };
            Ok::<_, std::io::Error>(match &tls {
                None => stream::start(inner, tcp, make, keepalive, ()),
                Some((connector, name)) => {
                    let s = connector.connect(name.clone(), tcp).await?;
                    stream::start(inner, s, make, keepalive, ())
                }
            })
        };
        match tokio::time::timeout(inner.limits.connect_timeout, attempt).await {
            Ok(Ok(id)) => return Ok(id),
            Ok(Err(source)) => last = Some(ConnectError::Connect { addr, source }),
            Err(_) => {
                last = Some(ConnectError::Connect {
                    addr,
                    source: std::io::ErrorKind::TimedOut.into(),
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| ConnectError::NoAddress {
        host: host.to_owned(),
    }))
}
