//! Hex for IDs, session UIDs and domain secrets, through RustCrypto's `base16ct`.

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// The bytes of a hex string (either case); `None` if it is not hex.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    base16ct::mixed::decode_vec(text).ok()
}
