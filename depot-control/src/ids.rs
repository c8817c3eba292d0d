//! Random identifiers.

use rand::Rng;
use rand::distr::Alphanumeric;

const ID_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A new 20-character lowercase alphanumeric id (about 103 bits), e.g. for projects and builds.
/// Lowercase keeps ids valid as OCI repository names and tags.
pub fn new_id() -> String {
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

/// A new 40-character alphanumeric id that doubles as a secret (about 238 bits).
pub fn new_secret_id() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// Whether `id` could have been produced by [`new_id`]: checked before ids are used in
/// registry paths or file names.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| ID_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_valid() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert!(is_valid_id(&a));
        assert!(!is_valid_id("../etc"));
        assert!(!is_valid_id("ABC"));
        assert_eq!(new_secret_id().len(), 40);
    }
}
