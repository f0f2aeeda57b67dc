//! The return codes the negotiation engine itself produces, each through its public API by a
//! test named after the code: every negotiation and session code of the API text, the blob
//! refusal (`CKR_CPV4_MSG_ERROR`), argument errors and the capacity code
//! (`CKR_DEVICE_MEMORY`). Not here: the per-object codes of `CA_Extract`/`CA_Insert`
//! (`CKR_CLONE_NOT_ATTEMPTED`, `CKR_OBJECT_TYPE_INVALID`, `CKR_OBJECT_HANDLE_INVALID`,
//! `CKR_ACTION_PROHIBITED`, `CKR_FAILED_TO_CLONE_AN_OBJECT`, `CKR_BUFFER_TOO_SMALL`), which
//! belong to the device and the API layer (luna-sim, luna-ffi), and the domain-management
//! codes (luna-sim's `domains` tests).

use cpv4_crypto::attest::ValidityPeriod;
use cpv4_crypto::psk::DomainPsk;
use cpv4_session::testing::*;
use cpv4_session::{ContinueInput, HsmTime};
use cpv4_wire::consts::*;
use cpv4_wire::{ElementType, Offer};

#[test]
fn ckr_protocol_disabled() {
    let mut pair = Pair::new();
    let offer = pair.start();
    pair.responder.cpv4_enabled = false;
    assert_rv(pair.respond(&offer), CKR_PROTOCOL_DISABLED);
    pair.initiator.cpv4_enabled = false;
    assert_rv(
        pair.target.start(TARGET, &pair.initiator, T, &mut pair.rng),
        CKR_PROTOCOL_DISABLED,
    );
}

#[test]
fn ckr_time_not_initialized_when_the_clock_was_never_set() {
    let mut pair = Pair::new();
    assert_rv(
        pair.target
            .start(TARGET, &pair.initiator, HsmTime::Unset, &mut pair.rng),
        CKR_TIME_NOT_INITIALIZED,
    );
    let exchange = pair.establish();
    let uid = exchange.uid.as_bytes();
    assert_rv(
        pair.source.seal(
            SOURCE,
            &pair.responder,
            HsmTime::Unset,
            uid,
            ElementType::Cryptoki,
            b"k",
        ),
        CKR_TIME_NOT_INITIALIZED,
    );
    assert_rv(
        pair.source
            .close(SOURCE, &pair.responder, HsmTime::Unset, uid),
        CKR_TIME_NOT_INITIALIZED,
    );
}

#[test]
fn ckr_time_not_initialized_when_the_clocks_differ_by_more_than_3_seconds() {
    // The responder's clock is 4 s behind: the Offer comes from its future.
    let mut pair = Pair::new();
    let offer = pair.start();
    let behind = HsmTime::At(NOW - 4);
    assert_rv(
        pair.source.continue_negotiation(
            SOURCE,
            &pair.responder,
            behind,
            &mut pair.rng,
            ContinueInput {
                step: 2,
                message: &offer,
                uid: None,
            },
        ),
        CKR_TIME_NOT_INITIALIZED,
    );
    // 3 s is within the tolerance.
    let within = HsmTime::At(NOW - 3);
    pair.source
        .continue_negotiation(
            SOURCE,
            &pair.responder,
            within,
            &mut pair.rng,
            ContinueInput {
                step: 2,
                message: &offer,
                uid: None,
            },
        )
        .unwrap();

    // The responder's clock is 10 s ahead: its Accept comes from the initiator's future.
    let mut pair = Pair::new();
    let offer = pair.start();
    let ahead = HsmTime::At(NOW + 10);
    let accept = pair
        .source
        .continue_negotiation(
            SOURCE,
            &pair.responder,
            ahead,
            &mut pair.rng,
            ContinueInput {
                step: 2,
                message: &offer,
                uid: None,
            },
        )
        .unwrap();
    assert_rv(
        pair.confirm(&accept.output, accept.uid),
        CKR_TIME_NOT_INITIALIZED,
    );
}

#[test]
fn ckr_session_negotiation_no_algs() {
    let mut pair = Pair::new();
    pair.responder.algorithms.suites = vec![0x7777];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_ALGS);
    // An Offer of only unknown suites gets the same answer.
    let mut pair = Pair::new();
    pair.initiator.algorithms.suites = vec![0x7777, 0x8888];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_ALGS);
}

#[test]
fn ckr_session_negotiation_no_kdf() {
    let mut pair = Pair::new();
    pair.initiator.algorithms.kdfs = vec![cpv4::KDF_HKDF_SHA384];
    pair.responder.algorithms.kdfs = vec![cpv4::KDF_HKDF_SHA256];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_KDF);
}

#[test]
fn ckr_session_negotiation_no_encoding() {
    let mut pair = Pair::new();
    pair.initiator.algorithms.encodings = vec![42];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_ENCODING);
}

#[test]
fn ckr_session_negotiation_no_session_duration() {
    let mut pair = Pair::new();
    pair.initiator.algorithms.durations = vec![600];
    pair.responder.algorithms.durations = vec![3600];
    let offer = pair.start();
    assert_rv(
        pair.respond(&offer),
        CKR_SESSION_NEGOTIATION_NO_SESSION_DURATION,
    );
}

#[test]
fn ckr_session_negotiation_no_chain_att() {
    let mut pair = Pair::new();
    pair.responder.algorithms.chain_mechanisms = vec![];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_CHAIN_ATT);
}

#[test]
fn ckr_session_negotiation_no_roots() {
    // The initiator trusts only another manufacturer's root.
    let mut pair = Pair::new();
    let other = Fixture::new_other_root();
    pair.initiator.trusted_roots = vec![other.root.trusted_root()];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_ROOTS);
}

#[test]
fn ckr_session_negotiation_no_psk() {
    let mut pair = Pair::new();
    pair.responder.domains = vec![
        DomainPsk::from_bytes([0x11; 32]),
        DomainPsk::from_bytes([0x12; 32]),
    ];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_PSK);
}

#[test]
fn ckr_session_negotiation_no_ephemeral_key() {
    let mut pair = Pair::new();
    let mut offer = Offer::decode(&pair.start()).unwrap();
    offer.ephemeral.point = [&[4u8][..], &[0x11; 64]].concat(); // not on the curve
    // Made (and bound) by an initiator of the domain, so it passes the PSK check (12).
    assert_rv(
        pair.respond(&rebind(&mut offer, &[shared_domain()])),
        CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY,
    );
    // The API text's spelling is the same code.
    assert_eq!(
        CKR_SESSION_NEGOTIATION_NO_EPHERMAL_KEY,
        CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY
    );
    offer.ephemeral.curve = cpv4_crypto::ecdh::ID_EC_PUBLIC_KEY; // wrong curve
    assert_rv(
        pair.respond(&rebind(&mut offer, &[shared_domain()])),
        CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY,
    );
}

#[test]
fn ckr_session_negotiation_no_attestation() {
    let mut pair = Pair::new();
    let exchange = pair.negotiate();
    let empty_chain = raw_confirm(&exchange.uid, &[]);
    assert_rv(
        pair.deliver(exchange.uid, &empty_chain),
        CKR_SESSION_NEGOTIATION_NO_ATTESTATION,
    );
    // The negotiation is intact: the real Confirm still completes it.
    pair.deliver(exchange.uid, &exchange.confirm).unwrap();
}

#[test]
fn ckr_attestation_expired_for_a_certificate_outside_its_validity() {
    let mut fixture = Fixture::new();
    let expired = ValidityPeriod::new(NOW - 2 * 86_400, NOW - 86_400);
    let initiator = fixture.policy_with_validity(true, expired);
    let responder = fixture.responder();
    let mut pair = Pair::from_parts(fixture, initiator, responder);
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    let confirm = pair.confirm(&accept, uid).unwrap();
    assert_rv(pair.deliver(uid, &confirm), CKR_ATTESTATION_EXPIRED);
}

#[test]
fn ckr_attestation_expired_for_a_stale_signed_time() {
    let mut pair = Pair::new();
    let offer = pair.start();
    let late = HsmTime::At(NOW + 601);
    assert_rv(
        pair.source.continue_negotiation(
            SOURCE,
            &pair.responder,
            late,
            &mut pair.rng,
            ContinueInput {
                step: 2,
                message: &offer,
                uid: None,
            },
        ),
        CKR_ATTESTATION_EXPIRED,
    );
}

#[test]
fn ckr_session_id_exists() {
    let mut pair = Pair::new();
    let exchange = pair.negotiate();
    // A replayed Accept names a UID the initiator already has.
    assert_rv(
        pair.confirm(&exchange.accept, exchange.uid),
        CKR_SESSION_ID_EXISTS,
    );
}

#[test]
fn ckr_session_negotiation_invalid() {
    let mut pair = Pair::new();
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    // A UID other than the Accept's.
    let mut other = *uid.as_bytes();
    other[0] ^= 1;
    assert_rv(
        pair.target.continue_negotiation(
            TARGET,
            &pair.initiator,
            T,
            &mut pair.rng,
            ContinueInput {
                step: 3,
                message: &accept,
                uid: Some(&other),
            },
        ),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    // A step Continue does not take.
    assert_rv(
        pair.target.continue_negotiation(
            TARGET,
            &pair.initiator,
            T,
            &mut pair.rng,
            ContinueInput {
                step: 4,
                message: &accept,
                uid: Some(uid.as_bytes()),
            },
        ),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    // Garbage.
    assert_rv(
        pair.respond(b"not an offer"),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    // An Accept for an Offer this partition never made.
    let mut stranger = Pair::new();
    stranger.rng = rng(99);
    let foreign_offer = stranger.start();
    let (foreign_accept, foreign_uid) = pair.respond(&foreign_offer).unwrap();
    assert_rv(
        pair.confirm(&foreign_accept, foreign_uid),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    // Extracting on the responder before the Confirm arrived.
    assert_rv(
        pair.source.seal(
            SOURCE,
            &pair.responder,
            T,
            uid.as_bytes(),
            ElementType::Cryptoki,
            b"k",
        ),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    // The initiator extracting before it has inserted a blob of the session (the API text's case).
    let confirm = pair.confirm(&accept, uid).unwrap();
    pair.deliver(uid, &confirm).unwrap();
    assert_rv(
        pair.target.seal(
            TARGET,
            &pair.initiator,
            T,
            uid.as_bytes(),
            ElementType::Cryptoki,
            b"k",
        ),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    // A Confirm for a UID never negotiated.
    assert_rv(
        pair.source
            .deliver_confirm(SOURCE, &pair.responder, T, &[9; 16], &confirm),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
}

#[test]
fn ckr_session_negotiation_expired() {
    let mut pair = Pair::new();
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    let late = HsmTime::At(NOW + 600);
    assert_rv(
        pair.target.continue_negotiation(
            TARGET,
            &pair.initiator,
            late,
            &mut pair.rng,
            ContinueInput {
                step: 3,
                message: &accept,
                uid: Some(uid.as_bytes()),
            },
        ),
        CKR_SESSION_NEGOTIATION_EXPIRED,
    );
    // The responder's negotiation expires the same way.
    assert_rv(
        pair.source
            .deliver_confirm(SOURCE, &pair.responder, late, uid.as_bytes(), b"any"),
        CKR_SESSION_NEGOTIATION_EXPIRED,
    );
}

#[test]
fn ckr_session_negotiation_not_started() {
    let mut pair = Pair::new();
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    let late = HsmTime::At(NOW + 700);
    // Any CPv4 call after the expiry sweeps the negotiation: an unrelated Start here.
    pair.target
        .start(TARGET, &pair.initiator, late, &mut pair.rng)
        .unwrap();
    assert_rv(
        pair.target.continue_negotiation(
            TARGET,
            &pair.initiator,
            late,
            &mut pair.rng,
            ContinueInput {
                step: 3,
                message: &accept,
                uid: Some(uid.as_bytes()),
            },
        ),
        CKR_SESSION_NEGOTIATION_NOT_STARTED,
    );
    // The first call on an expired name reports EXPIRED and sweeps it; the second NOT_STARTED.
    assert_rv(
        pair.source
            .deliver_confirm(SOURCE, &pair.responder, late, uid.as_bytes(), b"x"),
        CKR_SESSION_NEGOTIATION_EXPIRED,
    );
    assert_rv(
        pair.source
            .deliver_confirm(SOURCE, &pair.responder, late, uid.as_bytes(), b"x"),
        CKR_SESSION_NEGOTIATION_NOT_STARTED,
    );
}

#[test]
fn ckr_session_id_expired() {
    let mut pair = Pair::new();
    let exchange = pair.establish();
    let uid = exchange.uid.as_bytes();
    let just_before = at(3599);
    pair.source
        .seal(
            SOURCE,
            &pair.responder,
            just_before,
            uid,
            ElementType::Cryptoki,
            b"k",
        )
        .unwrap();
    let expiry = at(3600);
    assert_rv(
        pair.source.seal(
            SOURCE,
            &pair.responder,
            expiry,
            uid,
            ElementType::Cryptoki,
            b"k",
        ),
        CKR_SESSION_ID_EXPIRED,
    );
    // Swept by that call: now unknown.
    assert_rv(
        pair.source.seal(
            SOURCE,
            &pair.responder,
            expiry,
            uid,
            ElementType::Cryptoki,
            b"k",
        ),
        CKR_SESSION_ID_INVALID,
    );
}

#[test]
fn ckr_session_id_invalid() {
    let mut pair = Pair::new();
    pair.establish();
    assert_rv(
        pair.source.seal(
            SOURCE,
            &pair.responder,
            T,
            &[0xEE; 16],
            ElementType::Cryptoki,
            b"k",
        ),
        CKR_SESSION_ID_INVALID,
    );
    assert_rv(
        pair.source
            .open(SOURCE, &pair.responder, T, &[0xEE; 16], b"blob"),
        CKR_SESSION_ID_INVALID,
    );
    // CloseSession on a UID this partition never knew (ambiguity register A2).
    assert_rv(
        pair.source.close(SOURCE, &pair.responder, T, &[0xEE; 16]),
        CKR_SESSION_ID_INVALID,
    );
}

#[test]
fn ckr_cpv4_msg_error() {
    let mut pair = Pair::new();
    let exchange = pair.establish();
    let uid = exchange.uid.as_bytes();
    assert_rv(
        pair.target
            .open(TARGET, &pair.initiator, T, uid, b"not a blob"),
        CKR_CPV4_MSG_ERROR,
    );
    let blob = pair
        .source
        .seal(SOURCE, &pair.responder, T, uid, ElementType::Cryptoki, b"k")
        .unwrap();
    let opened = pair
        .target
        .open(TARGET, &pair.initiator, T, uid, &blob)
        .unwrap();
    pair.target
        .accept_sequence(&pair.initiator, T, opened.token)
        .unwrap();
    assert_rv(
        pair.target.open(TARGET, &pair.initiator, T, uid, &blob),
        CKR_CPV4_MSG_ERROR,
    );
}

#[test]
fn ckr_arguments_bad() {
    let mut pair = Pair::new();
    let exchange = pair.establish();
    assert_rv(
        pair.source
            .close(SOURCE, &pair.responder, T, &exchange.uid.as_bytes()[..15]),
        CKR_ARGUMENTS_BAD,
    );
    let offer = pair.start();
    assert_rv(
        pair.source.continue_negotiation(
            SOURCE,
            &pair.responder,
            T,
            &mut pair.rng,
            ContinueInput {
                step: 2,
                message: &offer,
                uid: Some(&[1; 16]),
            },
        ),
        CKR_ARGUMENTS_BAD,
    );
    assert_rv(
        pair.target.continue_negotiation(
            TARGET,
            &pair.initiator,
            T,
            &mut pair.rng,
            ContinueInput {
                step: 3,
                message: &exchange.accept,
                uid: Some(&[1; 15]),
            },
        ),
        CKR_ARGUMENTS_BAD,
    );
}

#[test]
fn ckr_device_memory() {
    // A partition holds at most MAX_NEGOTIATIONS_PER_PARTITION live negotiations.
    let mut pair = Pair::new();
    for partition in 0..cpv4_session::MAX_NEGOTIATIONS_PER_PARTITION as u64 {
        let offer = pair
            .target
            .start(TARGET + 100 + partition, &pair.initiator, T, &mut pair.rng)
            .unwrap();
        pair.respond(&offer).unwrap();
    }
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_DEVICE_MEMORY);
    // The initiator's own Starts are capped likewise.
    for _ in 1..cpv4_session::MAX_NEGOTIATIONS_PER_PARTITION {
        pair.start();
    }
    assert_rv(
        pair.target.start(TARGET, &pair.initiator, T, &mut pair.rng),
        CKR_DEVICE_MEMORY,
    );
}
