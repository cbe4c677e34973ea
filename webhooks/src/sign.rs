//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, "Signature scheme"):
//! `webhook-signature: v1,<base64 of HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`
//! where the key is the base64-decoded part of the secret after `whsec_`. HMAC (RFC 2104) is
//! written out here over `sha2`, which the workspace already has.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// An endpoint's signing key, from a `whsec_<base64>` secret. Its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// `whsec_` followed by standard base64 of at least 24 bytes (the specification asks for
    /// 24 to 64 random bytes).
    pub fn parse(text: &str) -> Result<Secret, String> {
        let Some(encoded) = text.strip_prefix("whsec_") else {
            return Err("a webhook secret starts with whsec_".to_owned());
        };
        let key = STANDARD.decode(encoded).map_err(|_| "the part after whsec_ is not base64".to_owned())?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!("the key after whsec_ has {} bytes; 24 to 64 are required", key.len()));
        }
        Ok(Secret(key))
    }

    /// The `webhook-signature` value for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut message = Vec::with_capacity(id.len() + 24 + body.len());
        message.extend_from_slice(id.as_bytes());
        message.push(b'.');
        message.extend_from_slice(timestamp.to_string().as_bytes());
        message.push(b'.');
        message.extend_from_slice(body);
        format!("v1,{}", STANDARD.encode(hmac_sha256(&self.0, &message)))
    }
}

/// HMAC-SHA256 (RFC 2104): block size 64.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&ipad).chain_update(message).finalize();
    Sha256::new().chain_update(&opad).chain_update(inner).finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, message, want) in cases {
            assert_eq!(hex::encode(hmac_sha256(key, message)), want);
        }
    }

    /// The example of the Standard Webhooks reference libraries' tests.
    #[test]
    fn signs_like_the_reference_implementation() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_checked() {
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(Secret::parse("whsec_!!!").is_err());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err(), "5 bytes");
        assert_eq!(format!("{:?}", Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()), "Secret(…)");
    }
}
