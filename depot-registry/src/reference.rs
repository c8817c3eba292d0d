//! The OCI Distribution grammar: repository names, tags and digests. Everything that reaches
//! storage paths or SQL is validated here first, so path tricks (`..`, `/`, NUL, upper case)
//! never get further.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// Longest repository name accepted (the spec suggests clients keep names under 255).
pub const MAX_NAME_LEN: usize = 255;

/// A validated repository name: `component(/component)*`, each component
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path component: the project the repository belongs to.
    pub fn project(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }
}

impl FromStr for Name {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if s.is_empty() || s.len() > MAX_NAME_LEN || !s.split('/').all(valid_component) {
            return Err(());
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || !bytes.get(i).is_some_and(|&b| alnum(b)) {
            return false;
        }
    }
    true
}

/// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A digest algorithm the registry verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256 (the default).
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// `sha256` or `sha512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest, e.g. `sha256:<64 lowercase hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(Sha256::digest(data)),
        }
    }
}

impl FromStr for Digest {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (alg, hex) = s.split_once(':').ok_or(())?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(()),
        };
        let valid = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(());
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

/// A streaming hasher for one algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(Sha256),
    /// SHA-512.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if s.contains(':') {
            s.parse().map(Reference::Digest)
        } else if is_valid_tag(s) {
            Ok(Reference::Tag(s.to_owned()))
        } else {
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for good in [
            "a",
            "abc/def",
            "p1/app_x",
            "a__b",
            "a---b",
            "a.b/c-d/e_f",
            "0",
        ] {
            assert!(good.parse::<Name>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "..",
            "a/../b",
            "a/./b",
            "-a",
            "a-",
            "a___b",
            "a_-b",
            "a b",
            "a\0b",
            "a%2fb",
            &"a".repeat(256),
        ] {
            assert!(bad.parse::<Name>().is_err(), "{bad:?}");
        }
        assert_eq!("p1/app".parse::<Name>().unwrap().project(), "p1");
    }

    #[test]
    fn tags_and_digests_follow_the_spec_grammar() {
        assert!(is_valid_tag("v1.0_rc-1"));
        assert!(!is_valid_tag(".hidden") && !is_valid_tag("-x") && !is_valid_tag("a/b"));
        let d = Digest::sha256_of(b"hello");
        assert_eq!(
            d.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        for bad in [
            "sha256:abc",
            "md5:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
            "sha256:../../../../etc/passwd000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"hello");
        assert_eq!(h.finish().hex().len(), 128);
        assert!(matches!("latest".parse(), Ok(Reference::Tag(_))));
        assert!(matches!(d.to_string().parse(), Ok(Reference::Digest(_))));
        assert!("bad tag".parse::<Reference>().is_err());
    }
}
