//! Whether a key may have made a signature: its self-signatures, expiry, revocation and key
//! flags, judged the way GnuPG judges them.
//!
//! rpgp checks signatures cryptographically but leaves this policy to the application. Only
//! self-signatures count (made by the primary key itself, and verified here); certifications
//! by other keys and designated revokers are not followed: trust comes from the keyring.

use pgp::composed::{SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{RevocationCode, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag};

/// The key (primary or subkey) whose material made a signature.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Component<'a> {
    Primary,
    Subkey(&'a SignedPublicSubKey),
}

/// Why a key cannot vouch for a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// No self-signature (user id certification, direct key signature or, for a subkey, binding
    /// signature) verifies.
    Invalid(String),
    Expired {
        at: u64,
    },
    Revoked {
        reason: Option<String>,
    },
    CannotSign,
}

/// A verified self-signature with what it says about the key.
struct SelfSignature<'a> {
    signature: &'a Signature,
    created: u32,
}

/// The user id to show for a key: the one marked primary in a valid, unrevoked certification,
/// else the first valid one, else the first one at all.
pub(crate) fn display_user_id(key: &SignedPublicKey) -> Option<String> {
    let mut first_valid = None;
    for user in &key.details.users {
        let certified: Vec<&Signature> = user
            .signatures
            .iter()
            .filter(|s| {
                is_user_certification(s) && s.verify_certification(&key.primary_key, Tag::UserId, &user.id).is_ok()
            })
            .collect();
        if certified.is_empty() || user_id_revoked(key, user) {
            continue;
        }
        let name = String::from_utf8_lossy(user.id.id()).into_owned();
        let latest = certified.iter().max_by_key(|s| created_secs(s));
        if latest.is_some_and(|s| s.is_primary()) {
            return Some(name);
        }
        first_valid.get_or_insert(name);
    }
    first_valid.or_else(|| key.details.users.first().map(|u| String::from_utf8_lossy(u.id.id()).into_owned()))
}

/// Can `component` of `key` stand behind a signature created at `signed_at`, judged at `now`
/// (both seconds since the epoch)?
pub(crate) fn check_signer(
    key: &SignedPublicKey,
    component: Component<'_>,
    signed_at: u64,
    now: u64,
) -> Result<(), Unusable> {
    let primary_binding = latest_primary_self_signature(key)
        .ok_or_else(|| Unusable::Invalid("the key has no valid self-signature".into()))?;
    if let Some(revocation) = key_revocation(key) {
        return Err(Unusable::Revoked { reason: revocation_reason(revocation) });
    }
    let primary_created = u64::from(key.primary_key.created_at().as_secs());
    check_expiry(primary_created, primary_binding.signature, signed_at, now)?;

    match component {
        Component::Primary => {
            if !allows_signing(primary_binding.signature, false) {
                return Err(Unusable::CannotSign);
            }
            Ok(())
        }
        Component::Subkey(subkey) => {
            let binding = latest_subkey_binding(key, subkey)
                .ok_or_else(|| Unusable::Invalid("the subkey has no valid binding signature".into()))?;
            if let Some(revocation) = subkey_revocation(key, subkey) {
                return Err(Unusable::Revoked { reason: revocation_reason(revocation) });
            }
            let subkey_created = u64::from(subkey.key.created_at().as_secs());
            check_expiry(subkey_created, binding.signature, signed_at, now)?;
            // A subkey signs only when its binding says so and the subkey cross-certifies the
            // primary key (otherwise anyone could bind someone else's signing key to theirs).
            if !allows_signing(binding.signature, true) {
                return Err(Unusable::CannotSign);
            }
            let back_signed = binding
                .signature
                .embedded_signature()
                .is_some_and(|back| back.verify_primary_key_binding(&subkey.key, &key.primary_key).is_ok());
            if !back_signed {
                return Err(Unusable::Invalid("the signing subkey has no valid back-signature".into()));
            }
            Ok(())
        }
    }
}

/// Expired when the (self-)signature sets an expiry that lies before `now` or before the
/// signature was made.
fn check_expiry(created: u64, binding: &Signature, signed_at: u64, now: u64) -> Result<(), Unusable> {
    let Some(lifetime) = binding.key_expiration_time() else { return Ok(()) };
    if lifetime.as_secs() == 0 {
        return Ok(());
    }
    let at = created + u64::from(lifetime.as_secs());
    if at <= now || at <= signed_at {
        return Err(Unusable::Expired { at });
    }
    Ok(())
}

/// Key flags allow signing. A primary key whose self-signature carries no key flags at all is
/// judged by its algorithm (the caller verified a signature with it, so it can sign), as GnuPG
/// does for old keys; a subkey must say so explicitly.
fn allows_signing(binding: &Signature, explicit_flags_required: bool) -> bool {
    let has_flags =
        binding.config().is_some_and(|c| c.hashed_subpackets().any(|p| matches!(p.data, SubpacketData::KeyFlags(_))));
    if !has_flags {
        return !explicit_flags_required;
    }
    binding.key_flags().sign()
}

/// The newest verified self-signature on the primary key: certifications of unrevoked user
/// ids and direct key signatures.
fn latest_primary_self_signature(key: &SignedPublicKey) -> Option<SelfSignature<'_>> {
    let primary = &key.primary_key;
    let certifications = key.details.users.iter().filter(|user| !user_id_revoked(key, user)).flat_map(|user| {
        user.signatures
            .iter()
            .filter(move |s| is_user_certification(s) && s.verify_certification(primary, Tag::UserId, &user.id).is_ok())
    });
    let direct = key
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok());
    certifications
        .chain(direct)
        .map(|signature| SelfSignature { signature, created: created_secs(signature) })
        .max_by_key(|s| s.created)
}

fn latest_subkey_binding<'a>(key: &SignedPublicKey, subkey: &'a SignedPublicSubKey) -> Option<SelfSignature<'a>> {
    subkey
        .signatures
        .iter()
        .filter(|s| {
            s.typ() == Some(SignatureType::SubkeyBinding)
                && s.verify_subkey_binding(&key.primary_key, &subkey.key).is_ok()
        })
        .map(|signature| SelfSignature { signature, created: created_secs(signature) })
        .max_by_key(|s| s.created)
}

fn key_revocation(key: &SignedPublicKey) -> Option<&Signature> {
    key.details
        .revocation_signatures
        .iter()
        .chain(&key.details.direct_signatures)
        .find(|s| s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(&key.primary_key).is_ok())
}

fn subkey_revocation<'a>(key: &SignedPublicKey, subkey: &'a SignedPublicSubKey) -> Option<&'a Signature> {
    subkey.signatures.iter().find(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(&key.primary_key, &subkey.key).is_ok()
    })
}

fn user_id_revoked(key: &SignedPublicKey, user: &pgp::types::SignedUser) -> bool {
    user.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::CertRevocation)
            && s.verify_certification(&key.primary_key, Tag::UserId, &user.id).is_ok()
    })
}

fn is_user_certification(s: &Signature) -> bool {
    matches!(
        s.typ(),
        Some(
            SignatureType::CertGeneric
                | SignatureType::CertPersona
                | SignatureType::CertCasual
                | SignatureType::CertPositive
        )
    )
}

fn revocation_reason(revocation: &Signature) -> Option<String> {
    let text = revocation.revocation_reason_string().map(|s| String::from_utf8_lossy(s).trim().to_owned());
    let code = revocation.revocation_reason_code().map(|code| match code {
        RevocationCode::NoReason => "no reason given".to_owned(),
        RevocationCode::KeySuperseded => "key superseded".to_owned(),
        RevocationCode::KeyCompromised => "key compromised".to_owned(),
        RevocationCode::KeyRetired => "key retired".to_owned(),
        other => format!("{other:?}"),
    });
    match (code, text) {
        (Some(code), Some(text)) if !text.is_empty() => Some(format!("{code}: {text}")),
        (Some(code), _) => Some(code),
        (None, Some(text)) if !text.is_empty() => Some(text),
        _ => None,
    }
}

fn created_secs(s: &Signature) -> u32 {
    s.created().map(|t| t.as_secs()).unwrap_or(0)
}
