//! TLS with libpq's meaning of `sslmode`, `sslrootcert`, `sslcert` and `sslkey`, on rustls.
//!
//! tokio-postgres knows only `sslmode` disable, prefer and require, and refuses the other
//! keys, so they are taken out of the connection string here, before it parses the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// `sslmode`, as libpq reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, String> {
        match value {
            "disable" => Ok(Mode::Disable),
            // libpq's allow tries without TLS first and with TLS only when the server
            // refuses; treating it as prefer would quietly change what goes over the wire.
            "allow" => Err(
                "sslmode=allow is not supported; use prefer (TLS whenever the server offers it) \
                            or disable"
                    .to_owned(),
            ),
            "prefer" => Ok(Mode::Prefer),
            "require" => Ok(Mode::Require),
            "verify-ca" => Ok(Mode::VerifyCa),
            "verify-full" => Ok(Mode::VerifyFull),
            other => Err(format!(
                "unknown sslmode `{other}`; expected disable, prefer, require, verify-ca or verify-full"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// Where the certificates that vouch for the server come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Roots {
    File(PathBuf),
    /// `sslrootcert=system`: the platform's trust store.
    System,
}

/// The TLS settings of one connection string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tls {
    mode: Mode,
    roots: Option<Roots>,
    client: Option<(PathBuf, PathBuf)>,
}

/// What the server's certificate is checked for.
enum Check<'a> {
    Nothing,
    Chain(&'a Roots),
    ChainAndName(&'a Roots),
}

const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl Tls {
    /// Takes the TLS keys out of a connection string (a `postgres://` URL or libpq's
    /// `key=value` form): the rest, for tokio-postgres, and the keys with their values.
    pub(crate) fn take(url: &str) -> (String, Vec<(String, String)>) {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            split_url(url)
        } else {
            split_key_values(url)
        }
    }

    /// The settings the keys [`Tls::take`] found make, or why they cannot work.
    pub(crate) fn resolve(taken: Vec<(String, String)>) -> Result<Tls, String> {
        let mut mode = None;
        let mut roots = None;
        let mut cert = None;
        let mut key = None;
        for (name, value) in taken {
            match name.as_str() {
                "sslmode" => mode = Some(Mode::parse(&value)?),
                "sslrootcert" if value == "system" => roots = Some(Roots::System),
                "sslrootcert" => roots = Some(Roots::File(PathBuf::from(value))),
                "sslcert" => cert = Some(PathBuf::from(value)),
                _ => key = Some(PathBuf::from(value)),
            }
        }
        let mode = match (mode, &roots) {
            // As libpq: the platform's roots vouch for any public server, so only the
            // host name says that it is the one meant.
            (None, Some(Roots::System)) => Mode::VerifyFull,
            (Some(mode), Some(Roots::System)) if mode != Mode::VerifyFull => {
                return Err(format!(
                    "sslmode={} may not be used with sslrootcert=system, which trusts every \
                     public certificate authority: use sslmode=verify-full",
                    mode.name()
                ))
            }
            (mode, _) => mode.unwrap_or(Mode::Prefer),
        };
        if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) && roots.is_none() {
            return Err(format!(
                "sslmode={} needs sslrootcert: a file of CA certificates (PEM) that signed the \
                 server's certificate, or sslrootcert=system for the platform's trusted roots",
                mode.name()
            ));
        }
        let client = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(
                    "sslcert and sslkey go together: give both the client certificate and its \
                     private key (PEM files)"
                        .to_owned(),
                )
            }
        };
        Ok(Tls { mode, roots, client })
    }

    /// The mode tokio-postgres negotiates with; the checks of verify-ca and verify-full
    /// are the connector's.
    pub(crate) fn ssl_mode(&self) -> postgres::config::SslMode {
        match self.mode {
            Mode::Disable => postgres::config::SslMode::Disable,
            Mode::Prefer => postgres::config::SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => postgres::config::SslMode::Require,
        }
    }

    fn check(&self) -> Check<'_> {
        match (self.mode, &self.roots) {
            (Mode::Disable | Mode::Prefer, _) | (Mode::Require, None) => Check::Nothing,
            // As libpq: require with a root certificate checks the chain like verify-ca.
            (Mode::Require | Mode::VerifyCa, Some(roots)) => Check::Chain(roots),
            (Mode::VerifyFull, Some(roots)) => Check::ChainAndName(roots),
            // `split` refuses verify-ca and verify-full without roots.
            (Mode::VerifyCa | Mode::VerifyFull, None) => Check::Nothing,
        }
    }

    /// The settings in words, for error messages: `sslmode=verify-full, sslrootcert=…`.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("sslmode={}", self.mode.name());
        match &self.roots {
            Some(Roots::File(path)) => text.push_str(&format!(", sslrootcert={}", path.display())),
            Some(Roots::System) => text.push_str(", sslrootcert=system"),
            None => {}
        }
        if let Some((cert, _)) = &self.client {
            text.push_str(&format!(", sslcert={}", cert.display()));
        }
        text
    }

    /// The connector: certificates are read here, before anything is sent to the server.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect, String> {
        // ring, named here rather than taken from a process-wide default, so that another
        // crate enabling a second provider cannot make rustls panic at run time.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS cannot be set up: {error}"))?;
        let builder = match self.check() {
            Check::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider))),
            Check::Chain(roots) | Check::ChainAndName(roots) => {
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(load_roots(roots)?), provider)
                        .build()
                        .map_err(|error| format!("{}: {error}", roots_name(roots)))?;
                if matches!(self.check(), Check::ChainAndName(_)) {
                    builder.with_webpki_verifier(verifier)
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
                }
            }
        };
        let config = match &self.client {
            Some((cert, key)) => {
                let chain = read_certificates(cert, "sslcert")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|error| match error {
                    pem::Error::NoItemsFound => format!(
                        "sslkey {} holds no unencrypted private key (PEM: PKCS#8, PKCS#1 or SEC1)",
                        key.display()
                    ),
                    other => format!("sslkey {} cannot be read: {}", key.display(), pem_error(&other)),
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|error| {
                    format!(
                        "sslcert {} and its sslkey do not make a client certificate: {error}",
                        cert.display()
                    )
                })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// Why a connection failed, in zdm's words, when TLS is the reason.
    pub(crate) fn explain(&self, error: &postgres::Error, host: &str) -> Option<String> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(inner) = cause {
            if let Some(tls) = as_rustls(inner) {
                return Some(self.explain_rustls(tls, host));
            }
            // tokio-postgres's own words when the server answers the TLS request with no.
            if inner.to_string() == "server does not support TLS" {
                return Some(format!(
                    "the server does not offer TLS, and sslmode={} needs it",
                    self.mode.name()
                ));
            }
            cause = inner.source();
        }
        None
    }

    fn explain_rustls(&self, error: &rustls::Error, host: &str) -> String {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                let trusted = match &self.roots {
                    Some(Roots::File(path)) => format!("a certificate in sslrootcert {}", path.display()),
                    Some(Roots::System) => {
                        "any of the platform's trusted roots (sslrootcert=system)".to_owned()
                    }
                    None => "a trusted certificate".to_owned(),
                };
                format!("the server's certificate is not signed by {trusted}")
            }
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                presented, ..
            }) => {
                let names = if presented.is_empty() {
                    "no host".to_owned()
                } else {
                    presented
                        .iter()
                        .map(|name| bare_name(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "the server's certificate is for {names}, not for the host \"{host}\" \
                     (sslmode=verify-full checks the host name)"
                )
            }
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => format!(
                "the server's certificate is not for the host \"{host}\" (sslmode=verify-full checks \
                 the host name)"
            ),
            other => format!("the TLS handshake failed: {other}"),
        }
    }
}

/// tokio-rustls reports through `io::Error`, whose `source()` skips the error it wraps.
fn as_rustls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A name as webpki presents it, `DnsName("db.example")` or `IpAddress(10.0.0.1)`, without
/// the wrapping.
fn bare_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

fn roots_name(roots: &Roots) -> String {
    match roots {
        Roots::File(path) => format!("sslrootcert {}", path.display()),
        Roots::System => "sslrootcert=system".to_owned(),
    }
}

fn load_roots(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            for (number, certificate) in read_certificates(path, "sslrootcert")?.into_iter().enumerate() {
                store.add(certificate).map_err(|error| {
                    format!(
                        "sslrootcert {}: certificate {} cannot vouch for a server: {error}",
                        path.display(),
                        number + 1
                    )
                })?;
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "sslrootcert=system: the platform has no trusted root certificates{}",
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", errors.join("; "))
                    }
                ));
            }
        }
    }
    Ok(store)
}

fn read_certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("{key} {} cannot be read: {}", path.display(), pem_error(&error)))?;
    if certificates.is_empty() {
        return Err(format!("{key} {} holds no PEM certificate", path.display()));
    }
    Ok(certificates)
}

/// The reason alone: the io error's words ("No such file or directory"), not the PEM
/// reader's wrapper around them.
fn pem_error(error: &pem::Error) -> String {
    match error {
        pem::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// `prefer`, and `require` without `sslrootcert`: encrypted, but no certificate is
/// checked, as with libpq. The handshake's signatures still are, so the server must hold
/// the key of the certificate it shows.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the certificate must chain to a trusted root; which host it names is not
/// checked. webpki checks the chain before the name, so a name error means the chain held.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A URL's TLS parameters (percent-decoded) and the URL without them.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if KEYS.contains(&key.as_str()) {
            taken.push((key, percent_decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, taken)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// libpq's `key=value` form: values may be single-quoted, with `\` escaping a quote or a
/// backslash. What cannot be read is left whole, for tokio-postgres to report.
fn split_key_values(text: &str) -> (String, Vec<(String, String)>) {
    let Some(pairs) = key_values(text) else {
        return (text.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for (key, value) in pairs {
        if KEYS.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            kept.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    (kept.join(" "), taken)
}

fn key_values(text: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=')?;
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\'' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, Tls) {
        let (rest, taken) = Tls::take(url);
        (
            rest,
            Tls::resolve(taken).unwrap_or_else(|error| panic!("{url}: {error}")),
        )
    }

    #[test]
    fn url_parameters_are_taken_out_and_decoded() {
        let (rest, tls) = split(
            "postgres://u@db:5432/app?application_name=x&sslmode=verify-full&sslrootcert=/etc/my%20ca.pem\
             &sslcert=/c.pem&sslkey=/k.pem&connect_timeout=3",
        );
        assert_eq!(
            rest,
            "postgres://u@db:5432/app?application_name=x&connect_timeout=3"
        );
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(tls.roots, Some(Roots::File(PathBuf::from("/etc/my ca.pem"))));
        assert_eq!(
            tls.client,
            Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")))
        );
        assert_eq!(
            tls.describe(),
            "sslmode=verify-full, sslrootcert=/etc/my ca.pem, sslcert=/c.pem"
        );
        assert_eq!(
            split("postgresql://db/app?sslmode=require").0,
            "postgresql://db/app"
        );
    }

    #[test]
    fn key_value_strings_are_taken_apart_too() {
        let (rest, tls) =
            split(r"host=db  dbname = 'my app' password='it\'s' sslmode=verify-ca sslrootcert='/a b.pem'");
        assert_eq!(rest, r"host='db' dbname='my app' password='it\'s'");
        assert_eq!(tls.mode, Mode::VerifyCa);
        assert_eq!(tls.roots, Some(Roots::File(PathBuf::from("/a b.pem"))));
        let parsed: postgres::Config = rest.parse().unwrap();
        assert_eq!(parsed.get_dbname(), Some("my app"));
        assert_eq!(parsed.get_password(), Some(&b"it's"[..]));
    }

    #[test]
    fn the_default_is_prefer_and_system_roots_mean_verify_full() {
        assert_eq!(split("postgres://db/app").1.mode, Mode::Prefer);
        assert_eq!(
            split("postgres://db/app?sslrootcert=system").1.mode,
            Mode::VerifyFull
        );
        // As libpq, a root certificate makes require check the chain.
        assert!(matches!(
            split("postgres://db/app?sslmode=require&sslrootcert=/ca.pem")
                .1
                .check(),
            Check::Chain(_)
        ));
        assert!(matches!(
            split("postgres://db/app?sslmode=require").1.check(),
            Check::Nothing
        ));
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let refused = |url: &str| Tls::resolve(Tls::take(url).1).unwrap_err();
        assert_eq!(
            refused("postgres://db/app?sslmode=allow"),
            "sslmode=allow is not supported; use prefer (TLS whenever the server offers it) or disable"
        );
        assert_eq!(
            refused("postgres://db/app?sslmode=strict"),
            "unknown sslmode `strict`; expected disable, prefer, require, verify-ca or verify-full"
        );
        assert_eq!(
            refused("postgres://db/app?sslmode=verify-ca"),
            "sslmode=verify-ca needs sslrootcert: a file of CA certificates (PEM) that signed the \
             server's certificate, or sslrootcert=system for the platform's trusted roots"
        );
        assert_eq!(
            refused("postgres://db/app?sslmode=require&sslrootcert=system"),
            "sslmode=require may not be used with sslrootcert=system, which trusts every public \
             certificate authority: use sslmode=verify-full"
        );
        assert_eq!(
            refused("postgres://db/app?sslcert=/c.pem"),
            "sslcert and sslkey go together: give both the client certificate and its private \
             key (PEM files)"
        );
    }
}
