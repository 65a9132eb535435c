//! Tenant keys and tenant ids, in the formats of the gateway ragwire
//! replaces, so its clients keep working:
//!
//! - a tenant id is 8 characters of `[a-z0-9]` (never `default`, which
//!   has 7);
//! - a tenant key is `sk-{tenant_id}-{secret}`, the secret 256 bits from
//!   the operating system's random source in unpadded base64url (43
//!   characters, 55 in all).
//!
//! Only the key's SHA-256 is stored. A fast hash is the right one here: a
//! slow password hash (bcrypt, argon2) buys time against guessing a
//! low-entropy secret a person chose, but nobody can guess or enumerate 2^256
//! random secrets, slow hash or not, so its cost would protect nothing and
//! only be paid on every request (the old gateway's cost-12 bcrypt took
//! 0.28 s per key, a denial of service for the price of a bad key). A fast
//! hash also gives each key a fixed-size fingerprint to find it by, in one
//! map lookup.

use ragwire_schemas::TenantId;
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// What every tenant key starts with.
pub const KEY_START: &str = "sk-";

/// Bytes of a key's secret: 256 bits.
const SECRET_BYTES: usize = 32;

/// Characters of a secret in unpadded base64url.
pub const SECRET_CHARS: usize = 43;

/// Characters of a generated tenant id.
pub const TENANT_ID_CHARS: usize = 8;

/// The SHA-256 of a key, by which it is stored and found.
pub type KeyHash = [u8; 32];

/// A new key: shown once to whoever asked for it, stored only as its hash.
pub struct NewKey {
    /// The key itself, `sk-{tenant}-{secret}`.
    pub plaintext: String,
    /// Its SHA-256.
    pub hash: KeyHash,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewKey(..)")
    }
}

/// A new key of `tenant`; fails only when the operating system's random
/// source does.
pub fn generate(tenant: &TenantId) -> Result<NewKey, String> {
    let mut secret = [0u8; SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut secret)
        .map_err(|e| format!("the system's random source failed: {e}"))?;
    let secret = base64_simd::URL_SAFE_NO_PAD.encode_to_string(secret);
    let plaintext = format!("{KEY_START}{tenant}-{secret}");
    let hash = hash(&plaintext);
    Ok(NewKey { plaintext, hash })
}

/// The SHA-256 of `key`.
pub fn hash(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// `hash` as it is stored: `sha256:` and 64 lowercase hex digits.
pub fn hash_text(hash: &KeyHash) -> String {
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for b in hash {
        text.push_str(&format!("{b:02x}"));
    }
    text
}

/// The hash stored as `text` by [`hash_text`].
pub fn parse_hash(text: &str) -> Option<KeyHash> {
    let hex = text.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(hash)
}

/// The tenant a key in the tenant format names (`sk-{tenant}-...`), when it
/// has that format; whether the key is real is the registry's to say.
pub fn tenant_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_START)?;
    let (tenant, secret) = rest.split_once('-')?;
    (!tenant.is_empty() && !secret.is_empty()).then_some(tenant)
}

/// A new tenant id: 8 characters drawn uniformly from `[a-z0-9]`.
pub fn new_tenant_id() -> Result<TenantId, String> {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(TENANT_ID_CHARS);
    let mut bytes = [0u8; 32];
    while id.len() < TENANT_ID_CHARS {
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| format!("the system's random source failed: {e}"))?;
        // 252 = 7 * 36: bytes above it are dropped, so every character is
        // equally likely.
        for b in bytes.iter().filter(|b| **b < 252) {
            if id.len() < TENANT_ID_CHARS {
                id.push(char::from(ALPHABET[usize::from(*b % 36)]));
            }
        }
    }
    TenantId::parse(&id)
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths
/// only, not on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the compiler from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Whether the secrets `a` and `b` are equal, in a time that depends on
/// neither: their hashes are compared, so not even a length leaks.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    constant_time_eq(&hash(a), &hash(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_tenant_formats() {
        let tenant = new_tenant_id().unwrap();
        assert_eq!(tenant.as_str().len(), 8);
        assert!(!tenant.is_default());
        assert!(tenant
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let key = generate(&tenant).unwrap();
        assert_eq!(key.plaintext.len(), 3 + 8 + 1 + SECRET_CHARS);
        assert_eq!(tenant_of(&key.plaintext), Some(tenant.as_str()));
        let secret = &key.plaintext[12..];
        assert!(secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(key.hash, hash(&key.plaintext));
        assert_eq!(parse_hash(&hash_text(&key.hash)), Some(key.hash));
        assert_ne!(generate(&tenant).unwrap().plaintext, key.plaintext);
        assert!(format!("{key:?}").find(secret).is_none());
        for bad in ["sk-", "sk-abc", "sk--x", "sk-abc-", "pk-abc-x", "abc"] {
            assert_eq!(tenant_of(bad), None, "{bad}");
        }
        assert_eq!(parse_hash("sha256:12"), None);
        assert_eq!(parse_hash(&"0".repeat(71)), None);
    }

    #[test]
    fn comparisons() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(secrets_equal("admin-key", "admin-key"));
        assert!(!secrets_equal("admin-key", "admin-key "));
    }
}
