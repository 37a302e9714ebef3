//! HMACs of the supported algorithms, signature decoding and the replay key of a signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};

use super::scheme::{Algorithm, Encoding};
use crate::secrets::sha256;

/// The HMAC of the concatenated `parts`, fed piece by piece so the body is never copied.
pub(super) fn hmac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    // HMAC takes keys of any length, so this cannot fail; `None` refuses rather than panics.
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().to_vec())
}

pub(super) fn output_len(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::Sha1 => 20,
        Algorithm::Sha256 => 32,
        Algorithm::Sha512 => 64,
    }
}

/// The bytes of an encoded signature, when it has exactly the length of `algorithm`'s output;
/// the length is checked before decoding, so a long header costs nothing.
pub(super) fn decode(encoding: Encoding, algorithm: Algorithm, text: &str) -> Option<Vec<u8>> {
    let len = output_len(algorithm);
    match encoding {
        Encoding::Hex if text.len() == 2 * len => hex::decode(text).ok(),
        Encoding::Base64 if text.len() == 4 * len.div_ceil(3) => STANDARD.decode(text).ok(),
        _ => None,
    }
}

/// A key of a verified signature for replay dedupe: a digest, so the stored or logged id is not
/// itself a signature that could be replayed.
pub(super) fn replay_key(mac: &[u8]) -> String {
    let digest = sha256(mac);
    hex::encode(digest.get(..16).unwrap_or(&digest))
}
