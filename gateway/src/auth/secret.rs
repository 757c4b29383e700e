//! Secrets: SHA-256 digests, constant-time comparison, generation and masking.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of a secret.
pub type Digest = [u8; 32];

pub fn digest(secret: &str) -> Digest {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time equality of two digests.
pub fn digest_eq(a: &Digest, b: &Digest) -> bool {
    a.ct_eq(b).into()
}

/// Index of the entry whose digest equals `presented`. Every entry is compared (no early
/// exit), each in constant time.
pub fn find_digest<'a, T>(
    entries: impl IntoIterator<Item = &'a T>,
    presented: &Digest,
    digest_of: impl Fn(&T) -> &Digest,
) -> Option<&'a T>
where
    T: 'a,
{
    let mut found = None;
    for entry in entries {
        if digest_eq(digest_of(entry), presented) && found.is_none() {
            found = Some(entry);
        }
    }
    found
}

/// A new secret: `sk-` and 43 base64url characters (256 random bits).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("sk-{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The last four characters of a secret, the only part ever shown again.
pub fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// `sk-***abcd`.
pub fn mask(last4: &str) -> String {
    format!("sk-***{last4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with("sk-") && a.len() == 46, "{a}");
        assert_ne!(a, b);
        assert!(
            a[3..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn masks_and_digests() {
        assert_eq!(mask(&last4("sk-abcdefgh")), "sk-***efgh");
        assert_eq!(last4("ab"), "ab");
        assert!(digest_eq(&digest("x"), &digest("x")));
        assert!(!digest_eq(&digest("x"), &digest("y")));
        let entries = [digest("a"), digest("b")];
        assert_eq!(
            find_digest(&entries, &digest("b"), |d| d),
            Some(&entries[1])
        );
        assert_eq!(find_digest(&entries, &digest("c"), |d| d), None);
    }
}
