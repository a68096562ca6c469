//! Collector TLS material: operator-provided PEM files, or a development CA generated
//! in the data dir on first start, plus the agent enrollment and admin API tokens.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSource;

pub const CA_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";
pub const CERT_FILE: &str = "server.pem";
pub const KEY_FILE: &str = "server-key.pem";
pub const AGENT_TOKEN_FILE: &str = "agent-token";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// Key for QUIC stateless resets; kept across restarts so that after a crash the new
/// process can reset agents' stale connections at once instead of letting them idle out.
pub const RESET_KEY_FILE: &str = "quic-reset-key";

/// Secrets and certificates the collector runs with.
#[derive(Clone)]
pub struct Credentials {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
    /// The CA file agents should trust, when known.
    pub ca_path: Option<PathBuf>,
    pub agent_token: String,
    pub admin_token: String,
    /// Secret for QUIC stateless resets (hex in the file).
    pub reset_key: [u8; 32],
    /// True when something was generated on this start (first run).
    pub generated: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        f.debug_struct("Credentials")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    write_file(path, contents, 0o600)
}

fn write_file(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(())
}

fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("system random source: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn load_or_create_token(path: &Path, generated: &mut bool) -> anyhow::Result<String> {
    if path.exists() {
        let token = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned();
        if token.is_empty() {
            bail!("token file {} is empty", path.display());
        }
        return Ok(token);
    }
    let token = random_token()?;
    write_private(path, &format!("{token}\n"))?;
    *generated = true;
    Ok(token)
}

fn generate_dev_ca(dir: &Path) -> anyhow::Result<()> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fleetlog development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mut names = vec!["localhost".to_owned()];
    if !host.is_empty() && host != "localhost" {
        names.push(host);
    }
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "fleetlog collector");
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let key = KeyPair::generate()?;
    let issuer = Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer)?;

    write_private(&dir.join(KEY_FILE), &key.serialize_pem())?;
    write_private(&dir.join(CERT_FILE), &cert.pem())?;
    write_private(&dir.join(CA_KEY_FILE), &issuer.key().serialize_pem())?;
    // The CA certificate is public; written last so its presence means "all done".
    write_file(&dir.join(CA_FILE), &ca_cert.pem(), 0o644)?;
    Ok(())
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(f))
        .with_context(|| format!("parsing {}", path.display()))?
        .with_context(|| format!("no private key in {}", path.display()))
}

/// Loads (or on first start creates) certificates and tokens in `data_dir`.
pub fn load_or_create(data_dir: &Path, source: &TlsSource) -> anyhow::Result<Credentials> {
    let mut generated = false;
    let (cert_path, key_path, ca_path) = match source {
        TlsSource::Development => {
            if !data_dir.join(CA_FILE).exists() {
                for f in [CA_KEY_FILE, CERT_FILE, KEY_FILE] {
                    // Leftovers of an interrupted first start.
                    let _ = std::fs::remove_file(data_dir.join(f));
                }
                generate_dev_ca(data_dir)?;
                generated = true;
            }
            (
                data_dir.join(CERT_FILE),
                data_dir.join(KEY_FILE),
                Some(data_dir.join(CA_FILE)),
            )
        }
        TlsSource::Files { cert, key, ca } => (cert.clone(), key.clone(), ca.clone()),
    };
    let agent_token = load_or_create_token(&data_dir.join(AGENT_TOKEN_FILE), &mut generated)?;
    let admin_token = load_or_create_token(&data_dir.join(ADMIN_TOKEN_FILE), &mut generated)?;
    let reset_hex = load_or_create_token(&data_dir.join(RESET_KEY_FILE), &mut generated)?;
    let mut reset_key = [0u8; 32];
    for (i, byte) in reset_key.iter_mut().enumerate() {
        *byte = reset_hex
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .with_context(|| {
                format!(
                    "{} is not 64 hex digits",
                    data_dir.join(RESET_KEY_FILE).display()
                )
            })?;
    }
    Ok(Credentials {
        certs: read_certs(&cert_path)?,
        key: Arc::new(read_key(&key_path)?),
        ca_path,
        agent_token,
        admin_token,
        reset_key,
        generated,
    })
}

/// Endpoint configuration with the persistent stateless-reset key.
pub fn endpoint_config(creds: &Credentials) -> quinn::EndpointConfig {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &creds.reset_key);
    quinn::EndpointConfig::new(Arc::new(key))
}

/// QUIC server configuration: TLS 1.3, ALPN `fleetlog/1`.
pub fn server_config(creds: &Credentials) -> anyhow::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(creds.certs.clone(), creds.key.clone_key())
        .context("server certificate and key do not match")?;
    tls.alpn_protocols = vec![fleetlog_protocol::ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(30))?));
    transport.max_concurrent_bidi_streams(64u32.into());
    transport.max_concurrent_uni_streams(0u32.into());
    config.transport_config(Arc::new(transport));
    Ok(config)
}
