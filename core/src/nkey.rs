//! nkeys: NATS's ed25519 public keys (base32 with a type prefix and a CRC) and the checks
//! of signatures made with them (a client's signature of the INFO nonce, a JWT's).
//!
//! Pure functions; no key is ever generated here (that needs randomness, which the core
//! does not draw: the runtimes and tests do).

use ed25519_dalek::{Signature, VerifyingKey};

/// The kind of a public nkey, from its first character (Go's `nkeys.PrefixByte*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `U…`: a user.
    User,
    /// `A…`: an account.
    Account,
    /// `O…`: an operator.
    Operator,
    /// `N…`: a server.
    Server,
    /// `C…`: a cluster.
    Cluster,
    /// Anything else a valid key may be (module, service...).
    Other,
}

/// A decoded public nkey: its kind and the raw ed25519 key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    /// What the key stands for.
    pub kind: Kind,
    raw: [u8; 32],
}

impl PublicKey {
    /// Decodes `text` (56 base32 characters, prefix and CRC checked). `None` for anything
    /// that is not a valid public nkey.
    pub fn decode(text: &str) -> Option<PublicKey> {
        let (prefix, raw) = nkeys::from_public_key(text).ok()?;
        let kind = match prefix {
            p if p == 20 << 3 => Kind::User,
            0 => Kind::Account,
            p if p == 14 << 3 => Kind::Operator,
            p if p == 13 << 3 => Kind::Server,
            p if p == 2 << 3 => Kind::Cluster,
            _ => Kind::Other,
        };
        Some(PublicKey { kind, raw })
    }

    /// True if `sig` is this key's ed25519 signature of `msg`. Strict verification: a
    /// small-order key or a non-canonical signature never passes (Go's tooling never makes
    /// either, so nothing legitimate is refused).
    pub fn verifies(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        let Ok(key) = VerifyingKey::from_bytes(&self.raw) else {
            return false;
        };
        key.verify_strict(msg, &sig).is_ok()
    }
}

/// True if `text` is a valid public nkey of `kind` (config checks: `nkey: U…`).
pub fn is_valid(text: &str, kind: Kind) -> bool {
    PublicKey::decode(text).is_some_and(|k| k.kind == kind)
}

/// Decodes a signature as clients send it in CONNECT's `sig`: base64 URL-safe without
/// padding, or (Go accepts this too) standard base64 with padding.
pub fn decode_sig(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE64URL_NOPAD
        .decode(text.as_bytes())
        .or_else(|_| data_encoding::BASE64.decode(text.as_bytes()))
        .ok()
}

/// Checks a client's `sig` (as sent in CONNECT) of `nonce` against the public nkey `key`.
/// False for a bad key, bad encoding or a bad signature alike: the client learns only
/// "Authorization Violation", as from Go.
pub fn verify_nonce(key: &str, nonce: &[u8], sig: &str) -> bool {
    let Some(k) = PublicKey::decode(key) else {
        return false;
    };
    decode_sig(sig).is_some_and(|s| k.verifies(nonce, &s))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The user seed of the official Rust client's nkey tests (`UAFHG6FU…`).
    const SEED: &str = "SUACH75SWCM5D2JMJM6EKLR2WDARVGZT4QC6LX3AGHSWOMVAKERABBBRWM";

    #[test]
    fn verifies_what_the_nkeys_crate_signs() {
        let kp = nkeys::KeyPair::from_seed(SEED).unwrap();
        let public = kp.public_key();
        assert_eq!(
            public,
            "UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE"
        );
        assert_eq!(PublicKey::decode(&public).unwrap().kind, Kind::User);
        assert!(is_valid(&public, Kind::User));
        assert!(!is_valid(&public, Kind::Account));
        let nonce = b"OgG5XrzT9ZPLuxc";
        let sig = kp.sign(nonce).unwrap();
        let url = data_encoding::BASE64URL_NOPAD.encode(&sig);
        let std = data_encoding::BASE64.encode(&sig);
        assert!(verify_nonce(&public, nonce, &url));
        assert!(
            verify_nonce(&public, nonce, &std),
            "Go accepts std base64 too"
        );
        assert!(!verify_nonce(&public, b"another nonce", &url), "replay");
        let mut bad = sig.clone();
        bad[3] ^= 1;
        let bad = data_encoding::BASE64URL_NOPAD.encode(&bad);
        assert!(!verify_nonce(&public, nonce, &bad));
        assert!(!verify_nonce(&public, nonce, "not base64!"));
        assert!(!verify_nonce(&public, nonce, ""));
        assert!(!verify_nonce("UNOTAKEY", nonce, &url));
        // One character changed breaks the CRC.
        let mut wrong = public.clone().into_bytes();
        wrong[10] = if wrong[10] == b'A' { b'B' } else { b'A' };
        assert!(PublicKey::decode(std::str::from_utf8(&wrong).unwrap()).is_none());
    }
}
