//! The OCI reference grammar: repository names, tags, digests and manifest references. What
//! parses must print back as itself and parse again to the same value.
#![no_main]

use depot_registry::reference::{Digest, Name, Reference, is_valid_tag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(name) = text.parse::<Name>() {
        assert_eq!(name.as_str(), text);
        assert_eq!(name.to_string().parse::<Name>().as_ref(), Ok(&name));
        assert!(text.starts_with(name.project()));
    }
    if let Ok(digest) = text.parse::<Digest>() {
        assert_eq!(digest.to_string().parse::<Digest>().as_ref(), Ok(&digest));
    }
    match text.parse::<Reference>() {
        Ok(Reference::Tag(tag)) => assert!(is_valid_tag(&tag) && tag == text),
        Ok(Reference::Digest(digest)) => assert_eq!(
            digest.to_string().parse::<Reference>(),
            Ok(Reference::Digest(digest))
        ),
        Err(()) => {}
    }
});
