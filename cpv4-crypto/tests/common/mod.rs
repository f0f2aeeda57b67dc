//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex, ignoring whitespace.
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(s.len() % 2, 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A deterministic RNG for tests.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// `n` bytes counting up from `start`.
pub fn counting<const N: usize>(start: u8) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = start.wrapping_add(i as u8);
    }
    out
}

/// Asserts that a `Debug` rendering shows none of `secret`'s bytes, in hex or as the decimal
/// list that `Debug` of a byte array prints.
pub fn assert_redacted(debug: &str, secret: &[u8]) {
    let lower = debug.to_lowercase();
    assert!(!lower.contains(&hex(secret)), "hex of secret in {debug}");
    assert!(
        !lower.contains(&hex(&secret[..8])),
        "hex prefix of secret in {debug}"
    );
    let decimal = secret[..4]
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        !debug.contains(&decimal),
        "decimal bytes of secret in {debug}"
    );
}

/// Compares `actual` with the checked-in golden file `tests/golden/<name>`; with
/// `CPV4_UPDATE_GOLDEN=1` in the environment, rewrites the file instead.
pub fn check_golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name);
    if std::env::var_os("CPV4_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(
        actual, expected,
        "{name} differs from the checked-in golden vectors: the format changed"
    );
}
