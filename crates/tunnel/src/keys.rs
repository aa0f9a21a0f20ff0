//! WireGuard keys in the textual form `wg` uses (base64 of 32 bytes).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use boringtun::x25519::{PublicKey, StaticSecret};
use rand_core::{OsRng, RngCore};

/// A key string that is not 32 bytes of base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not valid base64.
    #[error(
        "not a WireGuard key: invalid base64 (expected 44 characters as printed by `wg genkey`)"
    )]
    Base64,
    /// Base64, but not 32 bytes.
    #[error("not a WireGuard key: {0} bytes, expected 32")]
    Length(usize),
}

/// Generates a new private key, clamped as Curve25519 requires (the same form `wg genkey`
/// prints).
pub fn generate_private() -> [u8; 32] {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

/// The public key of a private key.
pub fn public_of(private: &[u8; 32]) -> [u8; 32] {
    let secret = StaticSecret::from(*private);
    *PublicKey::from(&secret).as_bytes()
}

/// Decodes a base64 key (surrounding whitespace ignored).
pub fn decode(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::Base64)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(bytes.len()))
}

/// Encodes a key as base64.
pub fn encode(key: &[u8; 32]) -> String {
    STANDARD.encode(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_vector() {
        // RFC 7748 §6.1 test vector (Alice).
        let sk: [u8; 32] = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let pk = public_of(&sk);
        assert_eq!(
            pk[..4],
            [0x85, 0x20, 0xf0, 0x09],
            "public key must match RFC 7748 §6.1"
        );
        assert_eq!(decode(&encode(&pk)).unwrap(), pk);
    }

    #[test]
    fn generated_keys_are_clamped_and_distinct() {
        let a = generate_private();
        let b = generate_private();
        assert_ne!(a, b);
        assert_eq!(a[0] & 7, 0);
        assert_eq!(a[31] & 0xc0, 0x40);
    }

    #[test]
    fn bad_keys_are_rejected() {
        assert_eq!(decode("not base64!"), Err(KeyError::Base64));
        assert_eq!(decode("AAAA"), Err(KeyError::Length(3)));
    }
}
