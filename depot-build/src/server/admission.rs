//! Which builds may connect to a builder right now, and the TLS client verifier that enforces
//! it: a certificate must chain to the builder CA **and** belong to a build currently holding
//! the builder, so a finished build's certificate stops working the moment it is released.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio_util::sync::CancellationToken;

use super::Fingerprint;

/// The builds holding a builder, by build id, with a token that closes their connections.
#[derive(Debug, Default)]
pub(crate) struct Admissions {
    builds: Mutex<HashMap<String, Admitted>>,
}

#[derive(Debug)]
struct Admitted {
    certificate: Fingerprint,
    closed: CancellationToken,
}

impl Admissions {
    /// Lets `build_id` connect with `certificate` (replacing an earlier certificate of the same
    /// build, whose connections are closed).
    pub(crate) fn admit(&self, build_id: &str, certificate: Fingerprint) {
        let previous = self.lock().insert(
            build_id.to_owned(),
            Admitted {
                certificate,
                closed: CancellationToken::new(),
            },
        );
        if let Some(previous) = previous {
            previous.closed.cancel();
        }
    }

    /// Refuses `build_id` from now on and closes its connections.
    pub(crate) fn evict(&self, build_id: &str) {
        if let Some(admitted) = self.lock().remove(build_id) {
            admitted.closed.cancel();
        }
    }

    /// The build `certificate` belongs to and the token that closes its connections, if it is
    /// admitted.
    pub(crate) fn find(&self, certificate: Fingerprint) -> Option<(String, CancellationToken)> {
        self.lock().iter().find_map(|(build, admitted)| {
            (admitted.certificate == certificate).then(|| (build.clone(), admitted.closed.clone()))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Admitted>> {
        self.builds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A client certificate verifier: the CA check of `inner`, then admission.
#[derive(Debug)]
pub(crate) struct AdmittedClients {
    inner: Arc<dyn ClientCertVerifier>,
    admissions: Arc<Admissions>,
}

impl AdmittedClients {
    /// Accepts certificates `inner` accepts that belong to a build in `admissions`.
    pub(crate) fn new(inner: Arc<dyn ClientCertVerifier>, admissions: Arc<Admissions>) -> Self {
        Self { inner, admissions }
    }
}

impl ClientCertVerifier for AdmittedClients {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.admissions.find(Fingerprint::of(end_entity)).is_none() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_forgets_the_certificate_and_closes_connections() {
        let admissions = Admissions::default();
        let (a, b) = (Fingerprint::of(b"a"), Fingerprint::of(b"b"));
        admissions.admit("build-a", a);
        admissions.admit("build-b", b);
        let (build, closed) = admissions.find(a).unwrap();
        assert_eq!(build, "build-a");
        admissions.evict("build-a");
        assert!(closed.is_cancelled());
        assert!(admissions.find(a).is_none());
        assert!(admissions.find(b).is_some());
        admissions.evict("build-a");
    }

    #[test]
    fn a_new_certificate_replaces_the_old_one() {
        let admissions = Admissions::default();
        let (old, new) = (Fingerprint::of(b"old"), Fingerprint::of(b"new"));
        admissions.admit("build", old);
        let (_, closed) = admissions.find(old).unwrap();
        admissions.admit("build", new);
        assert!(closed.is_cancelled());
        assert!(admissions.find(old).is_none());
        assert_eq!(admissions.find(new).unwrap().0, "build");
    }
}
