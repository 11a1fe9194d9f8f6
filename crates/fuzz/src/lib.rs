//! What the fuzz targets share: turning arbitrary bytes into a pack whose header and checksum
//! are right, so that mutations get past the checksum to the metadata and weights parsers.

use sha2::{Digest, Sha256};
use veil_core::pack::{FORMAT_VERSION, MAGIC};

/// `data` as a sealed pack: its first two bytes (little-endian, modulo what is left) give the
/// metadata's length, the metadata follows, and the rest is the weights.
pub fn sealed(data: &[u8]) -> Vec<u8> {
    let (length, body) = match data {
        [low, high, body @ ..] => (usize::from(u16::from_le_bytes([*low, *high])), body),
        _ => (0, data),
    };
    let (metadata, weights) = body.split_at(length.min(body.len()));
    let mut bytes = Vec::with_capacity(24 + body.len() + 32);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    bytes.extend_from_slice(metadata);
    bytes.extend_from_slice(weights);
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    bytes
}
