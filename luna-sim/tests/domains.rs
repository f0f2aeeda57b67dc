//! Cloning-domain management, one test per rule of the API text (named after its code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fresh, login};
use cpv4_crypto::psk::DomainPsk;
use cpv4_wire::consts::*;
use luna_sim::provision::{DEFAULT_DOMAIN_KCV, DEFAULT_DOMAIN_LABEL};
use luna_sim::{DomainLabel, SimError};

fn labels(list: &[DomainLabel]) -> Vec<(Option<&[u8]>, bool)> {
    list.iter()
        .map(|d| (d.label.as_deref(), d.primary))
        .collect()
}

#[test]
fn default_domain_is_shared_and_its_psk_is_derived_from_the_kcv() {
    let (_dir, sim) = fresh();
    let expected = DomainPsk::derive(DEFAULT_DOMAIN_KCV.as_bytes()).unwrap();
    for slot in [0, 1] {
        let domains = sim.domain_psks(slot).unwrap();
        assert_eq!(domains.len(), 1);
        assert_eq!(
            domains[0].label.as_deref(),
            Some(DEFAULT_DOMAIN_LABEL.as_bytes())
        );
        assert!(domains[0].primary);
        assert_eq!(domains[0].psk, expected);
    }
}

#[test]
fn add_kcv_without_policy_44_is_domain_management_not_allowed() {
    let (_dir, sim) = fresh();
    sim.set_partition_policy(0, PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT, false)
        .unwrap();
    let so = login(&sim, 0, CKU_SO);
    let err = sim
        .add_kcv(so, Some(b"secret"), b"second", false)
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED);
}

#[test]
fn delete_kcv_without_policy_44_is_domain_management_not_allowed() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    sim.add_kcv(so, Some(b"secret"), b"second", false).unwrap();
    sim.set_partition_policy(0, PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT, false)
        .unwrap();
    let err = sim.delete_kcv(so, Some(b"second")).unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED);
    // Relabelling is not subject to policy 44 (the text lists no such code for it).
    sim.change_kcv_label(so, Some(b"second"), b"renamed")
        .unwrap();
    assert_eq!(
        labels(&sim.get_kcv_labels(0).unwrap()),
        vec![
            (Some(DEFAULT_DOMAIN_LABEL.as_bytes()), true),
            (Some(&b"renamed"[..]), false)
        ]
    );
}

#[test]
fn add_kcv_by_crypto_officer_is_user_not_authorized() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    assert_eq!(
        sim.add_kcv(co, Some(b"k"), b"x", false).unwrap_err().rv(),
        CKR_USER_NOT_AUTHORIZED
    );
    assert_eq!(
        sim.delete_kcv(co, Some(DEFAULT_DOMAIN_LABEL.as_bytes()))
            .unwrap_err()
            .rv(),
        CKR_USER_NOT_AUTHORIZED
    );
    assert_eq!(
        sim.change_kcv_label(co, Some(DEFAULT_DOMAIN_LABEL.as_bytes()), b"y")
            .unwrap_err()
            .rv(),
        CKR_USER_NOT_AUTHORIZED
    );
}

#[test]
fn add_kcv_by_crypto_user_is_user_not_authorized() {
    let (_dir, sim) = fresh();
    let cu = login(&sim, 0, CKU_CRYPTO_USER);
    assert_eq!(
        sim.add_kcv(cu, Some(b"k"), b"x", false).unwrap_err().rv(),
        CKR_USER_NOT_AUTHORIZED
    );
}

#[test]
fn add_kcv_without_login_is_user_not_logged_in() {
    let (_dir, sim) = fresh();
    let session = sim.open_session(0, true).unwrap();
    assert_eq!(
        sim.add_kcv(session, Some(b"k"), b"x", false)
            .unwrap_err()
            .rv(),
        CKR_USER_NOT_LOGGED_IN
    );
    assert_eq!(
        sim.delete_kcv(session, None).unwrap_err().rv(),
        CKR_USER_NOT_LOGGED_IN
    );
}

#[test]
fn add_fourth_domain_is_domain_max_reached() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    sim.add_kcv(so, Some(b"two"), b"second", false).unwrap();
    sim.add_kcv(so, Some(b"three"), b"third", false).unwrap();
    let err = sim
        .add_kcv(so, Some(b"four"), b"fourth", false)
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_MAX_REACHED);
    assert_eq!(sim.get_kcv_labels(0).unwrap().len(), 3);
}

#[test]
fn add_existing_label_is_domain_label_already_exists() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    let err = sim
        .add_kcv(so, Some(b"other"), DEFAULT_DOMAIN_LABEL.as_bytes(), false)
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_LABEL_ALREADY_EXISTS);
}

#[test]
fn add_empty_label_is_domain_label_invalid() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    assert_eq!(
        sim.add_kcv(so, Some(b"k"), b"", false).unwrap_err().rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
    assert_eq!(
        sim.add_kcv(so, Some(b"k"), &[b'a'; 33], false)
            .unwrap_err()
            .rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
    sim.add_kcv(so, Some(b"k"), &[b'a'; 32], false).unwrap();
}

#[test]
fn add_empty_label_with_unlabelled_domain_is_domain_label_already_exists() {
    let (_dir, sim) = fresh();
    sim.add_unlabelled_domain(0, b"legacy secret").unwrap();
    let so = login(&sim, 0, CKU_SO);
    let err = sim.add_kcv(so, Some(b"k"), b"", false).unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_LABEL_ALREADY_EXISTS);
    // A second unlabelled domain is refused the same way.
    assert_eq!(
        sim.add_unlabelled_domain(0, b"again").unwrap_err().rv(),
        CKR_DOMAIN_LABEL_ALREADY_EXISTS
    );
}

#[test]
fn add_kcv_longer_than_128_bytes_is_arguments_bad() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    assert_eq!(
        sim.add_kcv(so, Some(&[1; 129]), b"long", false)
            .unwrap_err()
            .rv(),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        sim.add_kcv(so, Some(b""), b"empty", false)
            .unwrap_err()
            .rv(),
        CKR_ARGUMENTS_BAD
    );
}

#[test]
fn add_kcv_make_primary_moves_the_primary_and_labels_list_it_first() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    sim.add_kcv(so, Some(b"two"), b"second", false).unwrap();
    sim.add_kcv(so, Some(b"three"), b"third", true).unwrap();
    assert_eq!(
        labels(&sim.get_kcv_labels(0).unwrap()),
        vec![
            (Some(&b"third"[..]), true),
            (Some(DEFAULT_DOMAIN_LABEL.as_bytes()), false),
            (Some(&b"second"[..]), false),
        ]
    );
    let psks = sim.domain_psks(0).unwrap();
    assert_eq!(psks[0].psk, DomainPsk::derive(b"three").unwrap());
}

#[test]
fn delete_primary_makes_the_oldest_remaining_domain_primary() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    sim.add_kcv(so, Some(b"two"), b"second", false).unwrap();
    sim.add_kcv(so, Some(b"three"), b"third", false).unwrap();
    sim.delete_kcv(so, Some(DEFAULT_DOMAIN_LABEL.as_bytes()))
        .unwrap();
    assert_eq!(
        labels(&sim.get_kcv_labels(0).unwrap()),
        vec![(Some(&b"second"[..]), true), (Some(&b"third"[..]), false)]
    );
}

#[test]
fn delete_last_domain_is_domain_no_primary() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    let err = sim
        .delete_kcv(so, Some(DEFAULT_DOMAIN_LABEL.as_bytes()))
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_NO_PRIMARY);
    assert_eq!(sim.get_kcv_labels(0).unwrap().len(), 1);
}

#[test]
fn delete_unknown_label_is_domain_label_invalid() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    sim.add_kcv(so, Some(b"two"), b"second", false).unwrap();
    assert_eq!(
        sim.delete_kcv(so, Some(b"nope")).unwrap_err().rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
    // No unlabelled domain exists either.
    assert_eq!(
        sim.delete_kcv(so, None).unwrap_err().rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
}

#[test]
fn delete_unlabelled_domain_by_null_label() {
    let (_dir, sim) = fresh();
    sim.add_unlabelled_domain(0, b"legacy").unwrap();
    let so = login(&sim, 0, CKU_SO);
    sim.delete_kcv(so, None).unwrap();
    assert_eq!(
        labels(&sim.get_kcv_labels(0).unwrap()),
        vec![(Some(DEFAULT_DOMAIN_LABEL.as_bytes()), true)]
    );
}

#[test]
fn change_label_to_existing_is_domain_label_already_exists() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    sim.add_kcv(so, Some(b"two"), b"second", false).unwrap();
    let err = sim
        .change_kcv_label(so, Some(b"second"), DEFAULT_DOMAIN_LABEL.as_bytes())
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_LABEL_ALREADY_EXISTS);
    // Including its own label.
    let err = sim
        .change_kcv_label(so, Some(b"second"), b"second")
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_LABEL_ALREADY_EXISTS);
}

#[test]
fn change_label_to_empty_with_unlabelled_domain_is_domain_label_already_exists() {
    let (_dir, sim) = fresh();
    sim.add_unlabelled_domain(0, b"legacy").unwrap();
    let so = login(&sim, 0, CKU_SO);
    let err = sim
        .change_kcv_label(so, Some(DEFAULT_DOMAIN_LABEL.as_bytes()), b"")
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_LABEL_ALREADY_EXISTS);
}

#[test]
fn change_unknown_label_is_domain_label_invalid() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    assert_eq!(
        sim.change_kcv_label(so, Some(b"nope"), b"new")
            .unwrap_err()
            .rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
    assert_eq!(
        sim.change_kcv_label(so, None, b"new").unwrap_err().rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
    assert_eq!(
        sim.change_kcv_label(so, Some(DEFAULT_DOMAIN_LABEL.as_bytes()), &[b'x'; 33])
            .unwrap_err()
            .rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
    assert_eq!(
        sim.change_kcv_label(so, Some(DEFAULT_DOMAIN_LABEL.as_bytes()), b"")
            .unwrap_err()
            .rv(),
        CKR_DOMAIN_LABEL_INVALID
    );
}

#[test]
fn change_label_labels_the_unlabelled_domain() {
    let (_dir, sim) = fresh();
    sim.add_unlabelled_domain(0, b"legacy").unwrap();
    let so = login(&sim, 0, CKU_SO);
    sim.change_kcv_label(so, None, b"legacy-domain").unwrap();
    let psks = sim.domain_psks(0).unwrap();
    let legacy = psks
        .iter()
        .find(|d| d.label.as_deref() == Some(&b"legacy-domain"[..]))
        .unwrap();
    assert_eq!(legacy.psk, DomainPsk::derive(b"legacy").unwrap());
}

#[test]
fn get_kcv_labels_without_login_is_user_not_logged_in() {
    let (_dir, sim) = fresh();
    let _session = sim.open_session(0, false).unwrap();
    assert_eq!(
        sim.get_kcv_labels(0).unwrap_err().rv(),
        CKR_USER_NOT_LOGGED_IN
    );
    assert_eq!(sim.get_kcv_labels(9).unwrap_err(), SimError::SlotIdInvalid);
    // Any role may list them.
    let _cu = login(&sim, 0, CKU_CRYPTO_USER);
    assert_eq!(sim.get_kcv_labels(0).unwrap().len(), 1);
}

#[test]
fn ped_kcv_without_ped_is_ped_unplugged() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    assert_eq!(
        sim.add_kcv(so, None, b"ped-domain", false)
            .unwrap_err()
            .rv(),
        CKR_PED_UNPLUGGED
    );
    // A PED key that is stored but not attached is still unplugged.
    sim.ped_store_key("blue", b"ped secret").unwrap();
    assert_eq!(
        sim.add_kcv(so, None, b"ped-domain", false)
            .unwrap_err()
            .rv(),
        CKR_PED_UNPLUGGED
    );
}

#[test]
fn ped_kcv_with_attached_key_gives_the_same_psk_as_typing_it() {
    let (_dir, sim) = fresh();
    let so = login(&sim, 0, CKU_SO);
    sim.ped_store_key("blue", b"ped secret").unwrap();
    sim.ped_attach(Some("blue")).unwrap();
    sim.add_kcv(so, None, b"ped-domain", false).unwrap();
    sim.ped_attach(None).unwrap();
    let psks = sim.domain_psks(0).unwrap();
    let ped = psks
        .iter()
        .find(|d| d.label.as_deref() == Some(&b"ped-domain"[..]))
        .unwrap();
    assert_eq!(ped.psk, DomainPsk::derive(b"ped secret").unwrap());
}

#[test]
fn smk_is_a_separate_sealed_param_object_per_partition() {
    let (_dir, sim) = fresh();
    let a = sim.smk(0).unwrap();
    let b = sim.smk(1).unwrap();
    assert_ne!(a.ouid, b.ouid);
    assert_ne!(a.secret, b.secret);
    assert!(a.handle >= luna_sim::PARAM_OBJECT_BASE && a.handle < luna_sim::SESSION_OBJECT_BASE);
    assert_eq!(sim.smk(0).unwrap().secret, a.secret);
}

/// PED key files hold domain secrets: they are written as the storage keys are (0600, in a
/// 0700 directory, synced, whole or absent), and a secret file others can read is refused, PED
/// key or storage key (the audit found PED files written with the umask, and key files' modes
/// never checked).
#[cfg(unix)]
#[test]
fn secret_files_are_private_and_a_readable_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let chmod = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let (dir, sim) = fresh();
    sim.ped_store_key("blue", b"ped secret").unwrap();
    sim.ped_attach(Some("blue")).unwrap();
    let ped = dir.path().join("ped");
    assert_eq!(mode(&ped), 0o700);
    assert_eq!(mode(&ped.join("blue.key")), 0o600);
    assert_eq!(mode(&ped.join("attached")), 0o600);
    assert_eq!(std::fs::read(ped.join("blue.key")).unwrap(), b"ped secret");
    // Re-storing replaces the file whole (a rename, so no temporary is left behind).
    sim.ped_store_key("blue", b"another secret").unwrap();
    let names: Vec<_> = std::fs::read_dir(&ped)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A PED key others can read is refused when it is used.
    chmod(&ped.join("blue.key"), 0o644);
    let so = login(&sim, 0, CKU_SO);
    let refused = sim.add_kcv(so, None, b"ped-domain", false).unwrap_err();
    assert!(refused.to_string().contains("must be 0600"), "{refused}");
    assert_eq!(refused.rv(), CKR_DEVICE_ERROR);
    sim.logout(so).unwrap();
    let co = login(&sim, 0, CKU_USER);
    let data = sim
        .create_object(
            co,
            &[
                luna_sim::Attribute::ulong(CKA_CLASS, CKO_DATA),
                luna_sim::Attribute::bool(CKA_TOKEN, true),
                luna_sim::Attribute::bytes(CKA_VALUE, b"sealed at rest".to_vec()),
            ],
        )
        .unwrap();
    drop(sim);
    // A storage key file others can read is refused when the home is opened.
    let keys: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    assert!(!keys.is_empty());
    for key in &keys {
        chmod(key, 0o640);
    }
    let opened = luna_sim::Simulator::open_with(dir.path(), luna_sim::SimOptions::default())
        .and_then(|sim| sim.slots().map(|_| sim))
        .and_then(|sim| {
            let session = sim.open_session(0, true)?;
            sim.login(session, CKU_USER, b"co-pin")?;
            sim.get_attribute_value(session, data, &[CKA_VALUE])
                .map(|_| ())
        });
    let err = opened.unwrap_err();
    assert!(err.to_string().contains("must be 0600"), "{err}");
    for key in &keys {
        chmod(key, 0o600);
    }
    assert!(common::open(dir.path()).slots().is_ok());
}
