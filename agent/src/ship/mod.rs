//! Shipping buffered batches to the collector over QUIC.
//!
//! `backoff` decides reconnect delays; `driver` owns the connection: it sends `Hello`
//! on the control stream, then sends each buffered batch on its own stream (priority
//! lane first, with a higher stream priority) and deletes a batch from the buffer only
//! after the collector's `Ack`, which the collector sends only after storing it.

pub mod backoff;
pub mod driver;
pub mod session;
mod split;
pub mod targets;

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fleetlog_protocol::{ALPN, codec, messages::Frame};

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("reading CA file {path}: {message}")]
    Ca { path: String, message: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("resolving collector address `{0}`")]
    Resolve(String),
    #[error("connecting to the collector: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("stream write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("stream closed: {0}")]
    Closed(#[from] quinn::ClosedStream),
    #[error("stream read: {0}")]
    Read(#[from] quinn::ReadExactError),
    #[error("collector sent a bad frame: {0}")]
    Codec(#[from] codec::CodecError),
    #[error("collector rejected the agent: {reason}: {message}")]
    Rejected {
        reason: fleetlog_protocol::RejectReason,
        message: String,
    },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("buffer: {0}")]
    Buffer(#[from] crate::buffer::BufferError),
    #[error("agent id conflict: took a new id")]
    Rekeyed,
}

/// Builds the QUIC client configuration trusting only the CA in `ca_path`.
pub fn client_config(ca_path: &Path) -> Result<quinn::ClientConfig, ShipError> {
    let ca_err = |message: String| ShipError::Ca {
        path: ca_path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(ca_path).map_err(|e| ca_err(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
        let cert = cert.map_err(|e| ca_err(e.to_string()))?;
        roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca_err("no certificate found in PEM file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ShipError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| ShipError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(3)));
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(15))
            .map_err(|e| ShipError::Tls(e.to_string()))?,
    ));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Reads one length-prefixed frame from a QUIC stream.
pub async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Frame, ShipError> {
    let mut header = [0u8; codec::HEADER_LEN];
    recv.read_exact(&mut header).await?;
    let len = codec::body_len(header)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(codec::decode_body(&body)?)
}
