//! The server's identity and seed, from real randomness.

/// The base32 alphabet of NATS nkeys (RFC 4648, no padding).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Length of a server id: `N` plus 55 base32 characters, the shape of a Go server's nkey.
pub const SERVER_ID_LEN: usize = 56;

/// A fresh server key pair (Go's server nkey): its public key is the server id (`N…`, 56
/// characters), and it signs what the server asserts (the auth callout's requests).
///
/// Fails only if the operating system has no randomness to give.
pub fn new_server_key() -> std::io::Result<nkeys::KeyPair> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(std::io::Error::other)?;
    nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::Server, raw).map_err(std::io::Error::other)
}

/// A fresh random id in the shape of a server id: `N` followed by 55 random characters of
/// `A-Z2-7` (the generated cluster name takes a slice of one).
///
/// Fails only if the operating system has no randomness to give.
pub fn new_server_id() -> std::io::Result<String> {
    let mut raw = [0u8; SERVER_ID_LEN - 1];
    getrandom::fill(&mut raw).map_err(std::io::Error::other)?;
    let mut id = String::with_capacity(SERVER_ID_LEN);
    id.push('N');
    // 256 is a multiple of 32, so the low five bits of a random byte are uniform.
    id.extend(raw.iter().map(|b| char::from(BASE32[usize::from(b & 31)])));
    Ok(id)
}

/// A random, non-zero seed for the core's PRNG.
pub fn new_seed() -> std::io::Result<u64> {
    loop {
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).map_err(std::io::Error::other)?;
        let seed = u64::from_le_bytes(raw);
        if seed != 0 {
            return Ok(seed);
        }
    }
}

/// The operating system's random source, for the core's secrets (INFO nonces): installed
/// by both runtimes with `Shared::set_entropy` before the first client is accepted.
pub fn os_entropy() -> natsd_core::shared::Entropy {
    std::sync::Arc::new(|buf: &mut [u8]| {
        // The server already drew its id and seed from this source at startup, so it
        // works; a kernel that stops giving randomness leaves no safe way to go on.
        getrandom::fill(buf).expect("the operating system's random source failed");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_key_is_a_server_nkey() {
        let k = new_server_key().unwrap();
        let id = k.public_key();
        assert_eq!(id.len(), SERVER_ID_LEN);
        assert!(natsd_core::nkey::is_valid(
            &id,
            natsd_core::nkey::Kind::Server
        ));
        assert_ne!(id, new_server_key().unwrap().public_key());
    }

    #[test]
    fn server_id_has_the_nkey_shape() {
        let id = new_server_id().unwrap();
        assert_eq!(id.len(), SERVER_ID_LEN);
        assert!(id.starts_with('N'));
        assert!(id.bytes().all(|c| BASE32.contains(&c)));
        assert_ne!(id, new_server_id().unwrap());
        assert_ne!(new_seed().unwrap(), 0);
    }
}
