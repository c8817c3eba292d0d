//! The builder CA: one certificate authority per installation, kept in a directory, that signs
//! builders' server certificates and a client certificate per build.
//!
//! The directory holds `ca-key.pem` (the private key followed by the CA certificate, mode
//! 0600), the authoritative pair, and `ca.pem` (the certificate alone) for whatever must trust
//! the CA: clients verifying a builder, and standalone buildkitd's `--tlscacert`. The key file is
//! created once, atomically and without clobbering, so processes starting together agree on
//! one CA; after that it is only read.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use depot_control::builders::CertificatePair;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sha2::{Digest as _, Sha256};

/// The file holding the CA's key and certificate.
const KEY_FILE: &str = "ca-key.pem";
/// The file holding the CA's certificate alone.
const CERT_FILE: &str = "ca.pem";
/// The start of the CA's subject common name; the rest comes from its key (see [`ca_params`]).
const CA_COMMON_NAME: &str = "depot-rs builder CA";
/// The organization every certificate of an installation names.
const ORGANIZATION: &str = "depot-rs";
/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Certificates start being valid this long before they are minted (clock skew).
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// What went wrong with the builder CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The CA directory or its files could not be read or written.
    #[error("builder CA in {dir}")]
    Io {
        /// The CA directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The stored CA is not usable.
    #[error("builder CA in {dir}: {reason}")]
    Invalid {
        /// The CA directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A certificate could not be minted.
    #[error("cannot mint a certificate: {0}")]
    Mint(String),
}

/// The SHA-256 of a certificate's DER: how builders recognise a build's client certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// A certificate minted by the CA, with its key.
#[derive(Clone)]
pub struct IssuedCertificate {
    /// Certificate and key, PEM.
    pub pair: CertificatePair,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The fingerprint of [`IssuedCertificate::der`].
    pub fingerprint: Fingerprint,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// An installation's builder CA.
pub struct BuilderCa {
    dir: PathBuf,
    key: KeyPair,
    /// The CA as an issuer: its subject and key identifier, which is all signing needs.
    issuer: rcgen::Certificate,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
}

impl std::fmt::Debug for BuilderCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuilderCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl BuilderCa {
    /// The CA kept in `dir`, created (with the directory) if there is none yet.
    pub fn open(dir: &Path) -> Result<Self, CaError> {
        let io = |source| CaError::Io {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let key_path = dir.join(KEY_FILE);
        if !key_path.exists() {
            create_key_file(dir, &key_path).map_err(io)?;
        }
        let stored = std::fs::read(&key_path).map_err(io)?;
        let ca = Self::from_stored(dir, &stored)?;
        ca.write_cert_file().map_err(io)?;
        Ok(ca)
    }

    fn from_stored(dir: &Path, stored: &[u8]) -> Result<Self, CaError> {
        let invalid = |reason: String| CaError::Invalid {
            dir: dir.to_owned(),
            reason,
        };
        let key_der = PrivateKeyDer::from_pem_slice(stored)
            .map_err(|e| invalid(format!("{KEY_FILE}: private key: {e}")))?;
        let key = KeyPair::try_from(&key_der)
            .map_err(|e| invalid(format!("{KEY_FILE}: private key: {e}")))?;
        let cert_der = CertificateDer::from_pem_slice(stored)
            .map_err(|e| invalid(format!("{KEY_FILE}: certificate: {e}")))?;
        let issuer = ca_params(&key, SystemTime::now())
            .self_signed(&key)
            .map_err(|e| invalid(format!("{KEY_FILE}: {e}")))?;
        let cert_pem = pem_certificate(&cert_der);
        Ok(Self {
            dir: dir.to_owned(),
            key,
            issuer,
            cert_pem,
            cert_der,
        })
    }

    /// Writes `ca.pem` unless it already holds the CA certificate.
    fn write_cert_file(&self) -> std::io::Result<()> {
        let path = self.cert_path();
        if std::fs::read_to_string(&path).is_ok_and(|current| current == self.cert_pem) {
            return Ok(());
        }
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(self.cert_pem.as_bytes())?;
        temp.as_file().sync_all()?;
        set_mode(temp.path(), 0o644)?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The path of the CA certificate (`ca.pem`), e.g. for buildkitd's `--tlscacert`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// A server certificate for a builder answering to `server_name` (a DNS name or an IP
    /// address), valid from now for `valid_for`.
    pub fn server_certificate(
        &self,
        server_name: &str,
        valid_for: Duration,
    ) -> Result<IssuedCertificate, CaError> {
        let now = SystemTime::now();
        let bad_name = |e: &dyn std::fmt::Display| {
            CaError::Mint(format!("{server_name:?} is not a valid server name: {e}"))
        };
        let san = match ServerName::try_from(server_name).map_err(|e| bad_name(&e))? {
            ServerName::IpAddress(ip) => SanType::IpAddress(std::net::IpAddr::from(ip)),
            _ => SanType::DnsName(server_name.try_into().map_err(|e| bad_name(&e))?),
        };
        let mut params = leaf_params(server_name, now, now + valid_for)?;
        params.subject_alt_names = vec![san];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for `build_id` (its common name, and the SAN
    /// `urn:depot-rs:build:<build_id>`), valid until `expires_at`.
    pub fn client_certificate(
        &self,
        build_id: &str,
        expires_at: SystemTime,
    ) -> Result<IssuedCertificate, CaError> {
        let now = SystemTime::now();
        if expires_at <= now {
            return Err(CaError::Mint(format!(
                "build {build_id} has expired; no certificate is minted for it"
            )));
        }
        let mut params = leaf_params(build_id, now, expires_at)?;
        let uri = format!("urn:depot-rs:build:{build_id}");
        params.subject_alt_names = vec![SanType::URI(
            uri.as_str()
                .try_into()
                .map_err(|e| CaError::Mint(format!("{uri:?}: {e}")))?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<IssuedCertificate, CaError> {
        let mint = |e: rcgen::Error| CaError::Mint(e.to_string());
        let key = KeyPair::generate().map_err(mint)?;
        let cert = params
            .signed_by(&key, &self.issuer, &self.key)
            .map_err(mint)?;
        let der = cert.der().clone();
        Ok(IssuedCertificate {
            pair: CertificatePair {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            },
            fingerprint: Fingerprint::of(&der),
            der,
        })
    }
}

/// Generates a CA and stores it at `key_path`: written to a temporary file, then linked into
/// place, which fails if another process got there first (its CA is then used).
fn create_key_file(dir: &Path, key_path: &Path) -> std::io::Result<()> {
    let key = KeyPair::generate().map_err(std::io::Error::other)?;
    let now = SystemTime::now();
    let mut params = ca_params(&key, now);
    params.not_after = offset_date_time(now + CA_VALIDITY).map_err(std::io::Error::other)?;
    let cert = params.self_signed(&key).map_err(std::io::Error::other)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    set_mode(temp.path(), 0o600)?;
    temp.write_all(key.serialize_pem().as_bytes())?;
    temp.write_all(cert.pem().as_bytes())?;
    temp.as_file().sync_all()?;
    match std::fs::hard_link(temp.path(), key_path) {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// The CA's parameters. Subject, key usages and key identifier method follow from the key
/// alone, so that the issuer rebuilt from the stored key after a restart signs exactly like the
/// original. The subject names a digest of the public key, so CAs of different installations
/// have different names (a certificate of one is then refused as from an unknown CA by another).
fn ca_params(key: &KeyPair, now: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, ORGANIZATION);
    let digest = hex::encode(&Sha256::digest(key.public_key_der())[..6]);
    name.push(DnType::CommonName, format!("{CA_COMMON_NAME} {digest}"));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    if let Ok(start) = offset_date_time(now - BACKDATE) {
        params.not_before = start;
    }
    params
}

/// Parameters of an end-entity certificate named `common_name`, valid from `now` (backdated a
/// little) to `until`.
fn leaf_params(
    common_name: &str,
    now: SystemTime,
    until: SystemTime,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, ORGANIZATION);
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    // A random positive 128-bit serial.
    let mut serial: [u8; 16] = rand::random();
    serial[0] = serial[0] & 0x7f | 0x40;
    params.serial_number = Some(serial.to_vec().into());
    params.not_before = offset_date_time(now - BACKDATE).map_err(CaError::Mint)?;
    params.not_after = offset_date_time(until).map_err(CaError::Mint)?;
    Ok(params)
}

fn offset_date_time(at: SystemTime) -> Result<time::OffsetDateTime, String> {
    let seconds = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "a date before 1970".to_owned())?
        .as_secs();
    i64::try_from(seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| "a date too far in the future".to_owned())
}

fn pem_certificate(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::server::WebPkiClientVerifier;
    use rustls_pki_types::UnixTime;

    use super::*;

    fn roots(ca: &BuilderCa) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        Arc::new(roots)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn at(time: SystemTime) -> UnixTime {
        UnixTime::since_unix_epoch(time.duration_since(UNIX_EPOCH).unwrap())
    }

    /// Whether webpki accepts `cert` as a client certificate of `ca` at `time`.
    fn client_ok(ca: &BuilderCa, cert: &IssuedCertificate, time: SystemTime) -> bool {
        WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
            .build()
            .unwrap()
            .verify_client_cert(&cert.der, &[], at(time))
            .is_ok()
    }

    /// Whether webpki accepts `cert` as the server certificate of `name` at `time`.
    fn server_ok(ca: &BuilderCa, cert: &IssuedCertificate, name: &str, time: SystemTime) -> bool {
        WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
            .build()
            .unwrap()
            .verify_server_cert(
                &cert.der,
                &[],
                &ServerName::try_from(name.to_owned()).unwrap(),
                &[],
                at(time),
            )
            .is_ok()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn the_ca_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("builder-ca");
        let first = BuilderCa::open(&ca_dir).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |name: &str| {
            std::fs::metadata(ca_dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(KEY_FILE), 0o600);
        assert_eq!(mode(CERT_FILE), 0o644);
        assert_eq!(
            std::fs::read_to_string(first.cert_path()).unwrap(),
            first.cert_pem()
        );
        let leftovers: Vec<_> = std::fs::read_dir(&ca_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != KEY_FILE && name != CERT_FILE)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // A restart: the same CA, and what it signs chains to the CA the first one wrote.
        let again = BuilderCa::open(&ca_dir).unwrap();
        assert_eq!(again.cert_pem(), first.cert_pem());
        let cert = again
            .client_certificate("b1", SystemTime::now() + Duration::from_secs(600))
            .unwrap();
        assert!(client_ok(&first, &cert, SystemTime::now()));

        // A lost ca.pem is written again from the key file.
        std::fs::remove_file(first.cert_path()).unwrap();
        let third = BuilderCa::open(&ca_dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(third.cert_path()).unwrap(),
            first.cert_pem()
        );

        let other = BuilderCa::open(&dir.path().join("other")).unwrap();
        assert_ne!(other.cert_pem(), first.cert_pem());
        assert!(!client_ok(&other, &cert, SystemTime::now()));
    }

    #[test]
    fn client_certificates_name_the_build_and_end_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = BuilderCa::open(dir.path()).unwrap();
        let now = SystemTime::now();
        let expires = now + Duration::from_secs(3600);
        let cert = ca.client_certificate("build123abc", expires).unwrap();
        assert_eq!(cert.fingerprint, Fingerprint::of(&cert.der));
        assert!(contains(&cert.der, b"build123abc"));
        assert!(contains(&cert.der, b"urn:depot-rs:build:build123abc"));
        assert!(
            cert.pair
                .cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(cert.pair.key_pem.contains("PRIVATE KEY"));

        assert!(client_ok(&ca, &cert, now));
        assert!(client_ok(&ca, &cert, expires - Duration::from_secs(5)));
        assert!(!client_ok(&ca, &cert, expires + Duration::from_secs(5)));
        assert!(!client_ok(&ca, &cert, now - Duration::from_secs(3600)));

        // Each call mints a new key and certificate.
        let second = ca.client_certificate("build123abc", expires).unwrap();
        assert_ne!(second.fingerprint, cert.fingerprint);
        assert_ne!(second.pair.key_pem, cert.pair.key_pem);

        assert!(
            ca.client_certificate("late", now - Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn server_certificates_carry_the_server_name() {
        let dir = tempfile::tempdir().unwrap();
        let ca = BuilderCa::open(dir.path()).unwrap();
        let now = SystemTime::now();
        let valid = Duration::from_secs(24 * 3600);
        let cert = ca
            .server_certificate("builder.depot-rs.local", valid)
            .unwrap();
        assert!(server_ok(&ca, &cert, "builder.depot-rs.local", now));
        assert!(!server_ok(&ca, &cert, "other.example", now));
        assert!(!server_ok(
            &ca,
            &cert,
            "builder.depot-rs.local",
            now + valid + Duration::from_secs(60)
        ));
        let ip = ca.server_certificate("10.1.2.3", valid).unwrap();
        assert!(server_ok(&ca, &ip, "10.1.2.3", now));
        // A client certificate is no server certificate, nor the reverse.
        assert!(!client_ok(&ca, &cert, now));
        assert!(ca.server_certificate("not a name", valid).is_err());
    }
}
