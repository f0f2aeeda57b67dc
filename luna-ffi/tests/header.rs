//! The checked-in C header `include/luna_cpv4.h` is what `cargo xtask codegen` generates
//! now (same generator, included from `codegen/header.rs`).
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../codegen/header.rs"]
mod header;

use std::path::PathBuf;

fn workspace() -> PathBuf {
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    package.parent().map(PathBuf::from).unwrap_or(package)
}

#[test]
fn the_checked_in_header_is_current() {
    let generated = header::generate(&workspace()).unwrap();
    let checked_in = std::fs::read_to_string(workspace().join(header::HEADER)).unwrap_or_default();
    assert!(
        generated == checked_in,
        "{} is stale: run `cargo xtask codegen`",
        header::HEADER
    );
}

#[test]
fn the_header_defines_every_constant_of_cpv4_wire_and_the_abi() {
    let text = header::generate(&workspace()).unwrap();
    for (name, value) in cpv4_wire::consts::RETURN_CODES
        .iter()
        .chain(cpv4_wire::consts::MECHANISMS)
        .chain(cpv4_wire::consts::ATTRIBUTES)
        .chain(cpv4_wire::consts::SESSION_FLAGS)
        .chain(cpv4_wire::consts::INITIALIZE_FLAGS)
    {
        let line = format!("#define {name:<48} 0x{value:08X}UL");
        assert!(text.contains(&line), "missing: {line}");
    }
    assert!(text.contains("#define CK_UNAVAILABLE_INFORMATION"));
    for item in [
        "typedef struct CK_FUNCTION_LIST {",
        "typedef struct CK_GCM_PARAMS {",
        "typedef struct CK_C_INITIALIZE_ARGS {",
        "  CK_ATTRIBUTE_TYPE type;",
        "CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);",
        "#define CK_TRUE 1",
    ] {
        assert!(text.contains(item), "missing: {item}");
    }
}
