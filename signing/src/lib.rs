//! Helm provenance signatures: OpenPGP keyrings, verifying `.prov` files, writing them.
//!
//! Pure and synchronous like `chartroom-chart` (bytes and a clock reading in, values out; no
//! I/O), on the pure-Rust OpenPGP implementation rpgp (`pgp`).
//!
//! * [`Keyring`]: trusted public keys, from ASCII-armored blocks or binary GnuPG keyrings
//!   (`gpg --export`, Helm's `pubring.gpg`). [`SecretKeyring`] holds secret keys
//!   (`gpg --export-secret-keys`); [`SecretKeyring::select`] picks one as `helm package --sign
//!   --key` does.
//! * [`verify`]: is this `.prov` a valid clear-signed message, signed by a trusted, unexpired,
//!   unrevoked key that may sign, for this chart's name, version and sha256? Each failed check
//!   is its own [`VerifyError`] variant.
//! * [`sign`]: the `.prov` that `helm package --sign` writes, which `helm verify` (3 and 4) and
//!   `gpg --verify` accept.
//!
//! Keys: RSA, EdDSA (Ed25519 in the v4 "legacy" form GnuPG 2.2 makes) and ECDSA (NIST P-256 is
//! tested; rpgp also does P-384/P-521). Helm 3 itself cannot read keyrings holding EdDSA keys.

mod keys;
mod sign;
mod validity;
mod verify;

#[cfg(test)]
mod fixture_tests;

pub use keys::{KeySelectError, KeySummary, Keyring, KeyringError, MAX_KEYRING_SIZE, SecretKey, SecretKeyring};
pub use sign::{SignError, message_block, sign};
pub use verify::{ChartDigest, ExpectedChart, FUTURE_TOLERANCE_SECS, Verified, VerifyError, verify};
