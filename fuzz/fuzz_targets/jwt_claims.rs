//! A verified token's claims, read as each CI provider's: any JSON is turned into an identity
//! or refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|json: &[u8]| {
    depot_oidc::server::fuzz_claims(json);
});
