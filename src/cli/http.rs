//! A minimal HTTP/1.1 client for talking to a server on this machine (the admin endpoint):
//! one request per connection, no redirects. When the server serves TLS itself
//! (`[server.tls]`), the client speaks TLS too and trusts exactly the configured certificate
//! (pinned: the admin endpoint is a loopback address the certificate does not name).

use anyhow::{Context, bail};
use classpulse_core::config::Config;
use classpulse_core::datadir::AdminEndpoint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where a request goes: `host:port`, and the certificate to pin when the server speaks TLS.
pub(crate) struct Target {
    /// `host:port`.
    pub(crate) addr: String,
    /// The server's certificate file (`server.tls.cert`), when it serves TLS.
    pub(crate) tls_cert: Option<PathBuf>,
}

impl Target {
    /// The admin endpoint a running server published in its data directory, pinning the
    /// configured certificate when that server serves TLS.
    pub(crate) fn admin(endpoint: &AdminEndpoint, config: &Config) -> Self {
        Self {
            addr: endpoint.addr.to_string(),
            tls_cert: endpoint
                .tls
                .then(|| config.server.tls.as_ref().map(|t| t.cert.clone()))
                .flatten(),
        }
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Sends `method path` with a body and a bearer token; returns the status and body.
pub(crate) fn request(
    target: &Target,
    method: &str,
    path: &str,
    bearer: &str,
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    let addr = target
        .addr
        .to_socket_addrs()
        .with_context(|| format!("{} is not an address", target.addr))?
        .next()
        .with_context(|| format!("{} is not an address", target.addr))?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("cannot reach the running server at {}", target.addr))?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut stream: Box<dyn Stream> = match &target.tls_cert {
        None => Box::new(tcp),
        Some(cert) => Box::new(tls(tcp, cert)?),
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target.addr,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // A TLS peer that closes without close_notify: what we read is complete for HTTP/1.1
        // with `Connection: close`.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let text = String::from_utf8_lossy(&response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("malformed answer from {}", target.addr);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed status line")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

fn tls(
    tcp: TcpStream,
    cert: &std::path::Path,
) -> anyhow::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let chain = classpulse_core::server::tls::read_certificates(cert)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            cert: chain[0].clone(),
            provider,
        }))
        .with_no_client_auth();
    let name = ServerName::try_from("localhost")?;
    let connection = rustls::ClientConnection::new(Arc::new(config), name)?;
    Ok(rustls::StreamOwned::new(connection, tcp))
}

/// Trusts exactly one certificate, whatever names it holds.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the configured server.tls.cert".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
