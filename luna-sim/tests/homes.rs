//! Separate simulator homes, as on separate hosts: they share the default manufacturer root
//! (register A53), so their HSMs attest to each other and clone between them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use cpv4_migrate::{MigrationItem, migrate_keys_with};
use cpv4_wire::consts::*;
use luna_sim::{Attribute, SimEndpoint};

#[test]
fn every_home_makes_the_same_default_root_and_added_roots_are_random() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(a.path()), open(b.path()));
    let (root_a, root_b) = (
        &a.manufacturer_roots().unwrap()[0],
        &b.manufacturer_roots().unwrap()[0],
    );
    assert_eq!(root_a.root_id(), root_b.root_id());
    assert_eq!(root_a.certificate_der(), root_b.certificate_der());
    let added_a = a.add_manufacturer_root("Another Root").unwrap();
    let added_b = b.add_manufacturer_root("Another Root").unwrap();
    assert_ne!(added_a, added_b);
}

#[test]
fn an_hsm_of_one_home_clones_to_an_hsm_of_another() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(dir_a.path()), open(dir_b.path()));
    let source = login(&a, 0, CKU_USER);
    let target = login(&b, 1, CKU_USER);
    let key = a
        .create_object(
            source,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bytes(CKA_VALUE, vec![0x42; 32]),
            ],
        )
        .unwrap();
    let mut items = [MigrationItem::new(CK_CRYPTOKI_ELEMENT, key)];
    let mut from = SimEndpoint {
        sim: &a,
        session: source,
    };
    let mut to = SimEndpoint {
        sim: &b,
        session: target,
    };
    migrate_keys_with(&mut from, &mut to, None, 0, &mut items).unwrap();
    assert_eq!(items[0].rv, CKR_OK);
    let ouid = |sim: &luna_sim::Simulator, session, handle| {
        sim.get_attribute_value(session, handle, &[CKA_OUID])
            .unwrap()
    };
    assert_eq!(
        ouid(&a, source, key),
        ouid(&b, target, items[0].target_handle)
    );
    // Without the shared root the same migration fails at the attestation.
    let dir_c = tempfile::tempdir().unwrap();
    let c = open(dir_c.path());
    for serial in luna_sim::provision::DEFAULT_DEVICE_SERIALS {
        let root = c.manufacturer_roots().unwrap()[0].root_id();
        c.set_root_trusted(serial, root, false).unwrap();
        let other = c.add_manufacturer_root("Elsewhere").unwrap();
        c.set_root_trusted(serial, other, true).unwrap();
    }
    let untrusting = login(&c, 1, CKU_USER);
    let mut items = [MigrationItem::new(CK_CRYPTOKI_ELEMENT, key)];
    let mut to = SimEndpoint {
        sim: &c,
        session: untrusting,
    };
    let refused = migrate_keys_with(&mut from, &mut to, None, 0, &mut items).unwrap_err();
    assert_eq!(
        refused,
        CKR_SESSION_NEGOTIATION_NO_ROOTS,
        "{}",
        rv_display(refused)
    );
}
