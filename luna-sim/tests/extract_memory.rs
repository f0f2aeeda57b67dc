//! What `CA_Extract` holds of the objects it was asked for: a window of them as its checks
//! reach them, never the whole call's. A test binary of its own, so that the process's peak
//! resident size is this test's alone.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{confirmed_session, fresh, login};
use cpv4_wire::consts::*;
use luna_sim::{Attribute, ExtractItem};

const SOURCE: u64 = 0;
const TARGET: u64 = 1;

/// The process's peak resident size (KiB), after resetting it to the current one (Linux).
fn peak_since_reset(run: impl FnOnce()) -> u64 {
    let peak = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak();
    run();
    peak() - before
}

/// 64 requests for one 4 MiB data object: the call that stops at its first item loads none
/// of them, and the call that goes on (each too large for a blob) holds about one at a time.
/// Loading the call's objects all before its checks held 256 MiB.
#[test]
fn an_extract_holds_a_window_of_its_objects_not_all_of_them() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let uid = confirmed_session(&sim, source, target);
    let big = sim
        .create_object(
            source,
            &[
                Attribute::ulong(CKA_CLASS, CKO_DATA),
                Attribute::bool(CKA_TOKEN, false),
                Attribute::bytes(CKA_VALUE, vec![7; 4 << 20]),
            ],
        )
        .unwrap();
    let item = |object_type| ExtractItem {
        object_type,
        handle: big,
        capacity: 64_000,
    };
    let mut items = vec![item(2)];
    items.extend(std::iter::repeat_n(item(CK_CRYPTOKI_ELEMENT), 64));
    let mut stopped = None;
    let grown = peak_since_reset(|| {
        stopped = Some(
            sim.cpv4_extract(source, &uid, &[], 0, &items, false)
                .unwrap(),
        );
    });
    let stopped = stopped.unwrap();
    assert_eq!(stopped.rv, CKR_OBJECT_TYPE_INVALID);
    assert!(
        stopped.results[1..]
            .iter()
            .all(|&r| r == CKR_CLONE_NOT_ATTEMPTED)
    );
    assert!(
        grown < 32 * 1024,
        "the stopped call's peak grew {grown} KiB"
    );

    let mut went_on = None;
    let grown = peak_since_reset(|| {
        went_on = Some(
            sim.cpv4_extract(source, &uid, &[], CKF_CONTINUE_ON_ERR, &items, false)
                .unwrap(),
        );
    });
    let went_on = went_on.unwrap();
    assert_eq!(went_on.results[0], CKR_OBJECT_TYPE_INVALID);
    assert!(
        went_on.results[1..]
            .iter()
            .all(|&r| r == CKR_CPV4_MSG_ERROR)
    );
    assert!(grown < 64 * 1024, "the call's peak grew {grown} KiB");
}
