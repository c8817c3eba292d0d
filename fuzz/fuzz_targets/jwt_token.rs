//! CI token verification up to the point where keys are needed: any token is refused with an
//! error (no issuer is trusted here), never a panic, whatever its header and claims hold.
#![no_main]

use std::sync::OnceLock;

use depot_oidc::server::{OidcVerifier, VerifierConfig, looks_like_jwt};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static (tokio::runtime::Runtime, OidcVerifier) {
    static VERIFIER: OnceLock<(tokio::runtime::Runtime, OidcVerifier)> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let verifier = OidcVerifier::new(VerifierConfig::new(Vec::new(), "depot"));
        (runtime, verifier)
    })
}

fuzz_target!(|token: &str| {
    let _ = looks_like_jwt(token);
    let (runtime, verifier) = verifier();
    assert!(runtime.block_on(verifier.verify(token)).is_err());
});
