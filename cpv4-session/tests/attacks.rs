//! An active attacker against the negotiation and the key blobs: each attack fails closed with
//! its documented code, and leaves the honest negotiation able to complete where it can.

use cpv4_crypto::attest::ValidityPeriod;
use cpv4_crypto::ecdh::EphemeralSecret;
use cpv4_crypto::psk::DomainPsk;
use cpv4_session::testing::*;
use cpv4_session::{ContinueInput, HsmTime};
use cpv4_wire::consts::*;
use cpv4_wire::{Accept, ElementType, KeyBlob, Offer};

#[test]
fn a_genuine_hsm_outside_the_cloning_domain_gets_no_psk() {
    let mut pair = Pair::new();
    pair.responder.domains = vec![DomainPsk::from_bytes([0x99; 32])];
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_PSK);
}

#[test]
fn a_shared_domain_on_an_untrusted_manufacturers_device_gets_no_roots() {
    // The responder's device comes from a manufacturer the initiator does not trust.
    let mut trusted = Fixture::new();
    let mut foreign = Fixture::new_other_root();
    let initiator = trusted.initiator();
    let mut responder = foreign.responder();
    responder.trusted_roots.push(trusted.root.trusted_root());
    let mut pair = Pair::from_parts(trusted, initiator, responder);
    let offer = pair.start();
    assert_rv(pair.respond(&offer), CKR_SESSION_NEGOTIATION_NO_ROOTS);

    // A responder that claims the trusted root while its chain leads elsewhere.
    pair.responder.identity.root = pair.fixture.root.root_id();
    let (accept, uid) = pair.respond(&offer).unwrap();
    assert_rv(pair.confirm(&accept, uid), CKR_SESSION_NEGOTIATION_NO_ROOTS);
}

#[test]
fn an_expired_responder_certificate_gets_attestation_expired() {
    let mut fixture = Fixture::new();
    let initiator = fixture.initiator();
    let expired = ValidityPeriod::new(NOW - 2 * 86_400, NOW - 1);
    let responder = fixture.policy_with_validity(false, expired);
    let mut pair = Pair::from_parts(fixture, initiator, responder);
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    assert_rv(pair.confirm(&accept, uid), CKR_ATTESTATION_EXPIRED);
}

#[test]
fn an_expired_manufacturer_root_gets_attestation_expired() {
    let fixture = Fixture::with_root_validity(ValidityPeriod::new(NOW - 10 * 86_400, NOW - 86_400));
    let mut fixture = fixture;
    let initiator = fixture.initiator();
    let responder = fixture.responder();
    let mut pair = Pair::from_parts(fixture, initiator, responder);
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    assert_rv(pair.confirm(&accept, uid), CKR_ATTESTATION_EXPIRED);
}

#[test]
fn a_stale_offer_gets_attestation_expired() {
    let mut pair = Pair::new();
    let offer = pair.start();
    assert_rv(
        pair.source.continue_negotiation(
            SOURCE,
            &pair.responder,
            at(601),
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
fn a_man_in_the_middle_replacing_the_initiators_ephemeral_key_is_detected() {
    let mut pair = Pair::new();
    let honest = pair.start();
    let mut offer = Offer::decode(&honest).unwrap();
    let attacker = EphemeralSecret::generate(&mut rng(666));
    offer.ephemeral.point = attacker.public_point().to_vec();
    // The binders cover the ephemeral key: the responder refuses the changed Offer.
    assert_rv(
        pair.respond(&offer.encode().unwrap()),
        CKR_SESSION_NEGOTIATION_NO_PSK,
    );
    // A relay that holds the domain PSK can re-bind it; then the initiator sees a signature
    // over another transcript.
    let rebound = rebind(&mut offer, &[shared_domain()]);
    let (accept, uid) = pair.respond(&rebound).unwrap();
    assert_rv(pair.confirm(&accept, uid), CKR_SESSION_NEGOTIATION_INVALID);
}

#[test]
fn a_man_in_the_middle_replacing_the_responders_ephemeral_key_is_detected() {
    let mut pair = Pair::new();
    let offer = pair.start();
    let (honest, uid) = pair.respond(&offer).unwrap();
    let mut accept = Accept::decode(&honest).unwrap();
    let attacker = EphemeralSecret::generate(&mut rng(667));
    accept.tbs.ephemeral.point = attacker.public_point().to_vec();
    assert_rv(
        pair.confirm(&accept.encode().unwrap(), uid),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    // The honest Accept still completes the negotiation.
    pair.confirm(&honest, uid).unwrap();
}

#[test]
fn a_downgrade_that_strips_suites_from_the_offer_is_detected() {
    let mut pair = Pair::new();
    let honest = pair.start();
    let mut offer = Offer::decode(&honest).unwrap();
    offer
        .algorithms
        .kdfs
        .retain(|kdf| *kdf == cpv4::KDF_HKDF_SHA256);
    offer.algorithms.suites.push(0x1234); // and adds a weaker, unknown one
    assert_rv(
        pair.respond(&offer.encode().unwrap()),
        CKR_SESSION_NEGOTIATION_NO_PSK,
    );
    // Re-bound by a relay holding the PSK, the downgrade reaches the initiator's check.
    let (accept, uid) = pair
        .respond(&rebind(&mut offer, &[shared_domain()]))
        .unwrap();
    assert_eq!(
        Accept::decode(&accept).unwrap().tbs.selection.kdf,
        cpv4::KDF_HKDF_SHA256
    );
    assert_rv(pair.confirm(&accept, uid), CKR_SESSION_NEGOTIATION_INVALID);
}

#[test]
fn a_replayed_accept_gets_session_id_exists() {
    let mut pair = Pair::new();
    let exchange = pair.establish();
    assert_rv(
        pair.confirm(&exchange.accept, exchange.uid),
        CKR_SESSION_ID_EXISTS,
    );
}

#[test]
fn a_replayed_confirm_gets_negotiation_invalid() {
    let mut pair = Pair::new();
    let exchange = pair.establish();
    assert_rv(
        pair.deliver(exchange.uid, &exchange.confirm),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
}

#[test]
fn a_confirm_from_another_negotiation_gets_negotiation_invalid() {
    let mut pair = Pair::new();
    let first = pair.negotiate();
    let second = pair.negotiate();
    assert_rv(
        pair.deliver(first.uid, &second.confirm),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    pair.deliver(first.uid, &first.confirm).unwrap();
}

#[test]
fn a_replayed_blob_is_refused() {
    let mut pair = Pair::new();
    let uid = pair.establish().uid;
    let blob = pair.source_blob(uid, b"key");
    // Two insertions of one blob open it before either stores its object: only the first
    // token is accepted.
    let opened = pair
        .target
        .open(TARGET, &pair.initiator, T, uid.as_bytes(), &blob)
        .unwrap();
    let twin = pair
        .target
        .open(TARGET, &pair.initiator, T, uid.as_bytes(), &blob)
        .unwrap();
    pair.target
        .accept_sequence(&pair.initiator, T, opened.token)
        .unwrap();
    assert_rv(
        pair.target
            .open(TARGET, &pair.initiator, T, uid.as_bytes(), &blob),
        CKR_CPV4_MSG_ERROR,
    );
    assert_rv(
        pair.target.accept_sequence(&pair.initiator, T, twin.token),
        CKR_CPV4_MSG_ERROR,
    );
}

#[test]
fn a_blob_moved_to_another_session_is_refused() {
    let mut pair = Pair::new();
    let first = pair.establish().uid;
    let second = pair.establish().uid;
    let blob = pair.source_blob(first, b"key");
    // As it is: its header names the first session.
    assert_rv(
        pair.target
            .open(TARGET, &pair.initiator, T, second.as_bytes(), &blob),
        CKR_CPV4_MSG_ERROR,
    );
    // With its header rewritten to the second session: the body no longer unwraps.
    let mut moved = KeyBlob::decode(&blob).unwrap();
    moved.header.session_uid = second;
    let moved = moved.encode().unwrap();
    assert_rv(
        pair.target
            .open(TARGET, &pair.initiator, T, second.as_bytes(), &moved),
        CKR_CPV4_MSG_ERROR,
    );
}

#[test]
fn a_blob_sent_in_the_wrong_direction_is_refused() {
    let mut pair = Pair::new();
    let uid = pair.establish().uid;
    let blob = pair.source_blob(uid, b"key");
    // Reflected back to its sender.
    assert_rv(
        pair.source
            .open(SOURCE, &pair.responder, T, uid.as_bytes(), &blob),
        CKR_CPV4_MSG_ERROR,
    );
    // Its direction byte flipped to pass the direction check: the body no longer unwraps.
    let mut turned = KeyBlob::decode(&blob).unwrap();
    turned.header.direction = cpv4_wire::Direction::InitiatorToResponder;
    let turned = turned.encode().unwrap();
    assert_rv(
        pair.source
            .open(SOURCE, &pair.responder, T, uid.as_bytes(), &turned),
        CKR_CPV4_MSG_ERROR,
    );
}

#[test]
fn a_blob_with_its_element_type_or_sequence_changed_is_refused() {
    let mut pair = Pair::new();
    let uid = pair.establish().uid;
    let blob = pair.source_blob(uid, b"key");
    let mut as_param = KeyBlob::decode(&blob).unwrap();
    as_param.header.element_type = ElementType::Param;
    assert_rv(
        pair.target.open(
            TARGET,
            &pair.initiator,
            T,
            uid.as_bytes(),
            &as_param.encode().unwrap(),
        ),
        CKR_CPV4_MSG_ERROR,
    );
    let mut renumbered = KeyBlob::decode(&blob).unwrap();
    renumbered.header.sequence = 5;
    assert_rv(
        pair.target.open(
            TARGET,
            &pair.initiator,
            T,
            uid.as_bytes(),
            &renumbered.encode().unwrap(),
        ),
        CKR_CPV4_MSG_ERROR,
    );
}

#[test]
fn an_unset_clock_on_either_side_stops_the_negotiation() {
    let mut pair = Pair::new();
    let offer = pair.start();
    assert_rv(
        pair.source.continue_negotiation(
            SOURCE,
            &pair.responder,
            HsmTime::Unset,
            &mut pair.rng,
            ContinueInput {
                step: 2,
                message: &offer,
                uid: None,
            },
        ),
        CKR_TIME_NOT_INITIALIZED,
    );
}
