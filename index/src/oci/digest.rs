//! `sha256:<hex>` content digests (the only algorithm Chartroom stores).

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A sha256 content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// 64 lowercase hex digits.
    hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("unsupported digest algorithm in {0:?}: only sha256 is supported")]
    Algorithm(String),
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    Format(String),
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(text: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, hex)) = text.split_once(':') else { return Err(DigestError::Format(text.to_owned())) };
        if algorithm != "sha256" {
            let known = !algorithm.is_empty()
                && algorithm.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
            return Err(if known {
                DigestError::Algorithm(text.to_owned())
            } else {
                DigestError::Format(text.to_owned())
            });
        }
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(DigestError::Format(text.to_owned()));
        }
        Ok(Digest { hex: hex.to_owned() })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest { hex: hex::encode(Sha256::digest(bytes)) }
    }

    /// From the lowercase hex of a sha256 (an index entry's `digest`).
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    /// From a finished hasher.
    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        Digest { hex: hex::encode(hasher.finalize()) }
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_compute() {
        let d = Digest::of(b"");
        assert_eq!(d.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(matches!(Digest::parse("sha512:abc"), Err(DigestError::Algorithm(_))));
        for bad in ["", "sha256", "sha256:", "sha256:ABC", "sha256:zz", "nocolon", ":x", "sha256:../../x"] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        let upper = format!("sha256:{}", "E".repeat(64));
        assert!(Digest::parse(&upper).is_err());
    }
}
