//! The whole protocol, both sides, through the public API: negotiation, blobs both ways,
//! close; LEET mode; KDF negotiation; persistence between two "processes".

use cpv4_crypto::Secret32;
use cpv4_session::testing::*;
use cpv4_session::{PskMode, SessionTable};
use cpv4_wire::consts::*;
use cpv4_wire::{Accept, ElementType, Offer};

#[test]
fn a_whole_migration_runs_both_ways_and_closes() {
    let mut pair = Pair::new();
    let exchange = pair.establish();
    let uid = exchange.uid.as_bytes();
    assert_eq!(pair.target.counts(), (0, 0, 1));
    assert_eq!(pair.source.counts(), (0, 0, 1));

    // Source (responder) to target (initiator).
    let blob = pair
        .source
        .seal(
            SOURCE,
            &pair.responder,
            T,
            uid,
            ElementType::Cryptoki,
            b"object one",
        )
        .unwrap();
    assert_eq!(blob.len(), SessionTable::blob_len(b"object one".len()));
    let opened = pair
        .target
        .open(TARGET, &pair.initiator, T, uid, &blob)
        .unwrap();
    assert_eq!(opened.payload.as_slice(), b"object one");
    assert_eq!(
        (opened.element_type, opened.token.sequence()),
        (ElementType::Cryptoki, 0)
    );
    pair.target
        .accept_sequence(&pair.initiator, T, opened.token)
        .unwrap();

    // Now the initiator may send the other way.
    let back = pair
        .target
        .seal(TARGET, &pair.initiator, T, uid, ElementType::Param, b"smk")
        .unwrap();
    let opened = pair
        .source
        .open(SOURCE, &pair.responder, T, uid, &back)
        .unwrap();
    assert_eq!(
        (opened.payload.as_slice(), opened.element_type),
        (&b"smk"[..], ElementType::Param)
    );

    // The initiator may repeat its own Confirm as the input of its first insert.
    pair.target
        .deliver_confirm(TARGET, &pair.initiator, T, uid, &exchange.confirm)
        .unwrap();

    pair.source.close(SOURCE, &pair.responder, T, uid).unwrap();
    pair.target.close(TARGET, &pair.initiator, T, uid).unwrap();
    assert_eq!(pair.source.counts(), (0, 0, 0));
    // Closing again is not an error (the UID is tombstoned), but using the session is.
    pair.source.close(SOURCE, &pair.responder, T, uid).unwrap();
    assert_rv(
        pair.source
            .seal(SOURCE, &pair.responder, T, uid, ElementType::Cryptoki, b"x"),
        CKR_SESSION_ID_INVALID,
    );
}

#[test]
fn the_responder_selects_by_the_initiators_preference() {
    let mut pair = Pair::new();
    pair.initiator.algorithms.kdfs = vec![KDF_HKDF_SHA256_ID, KDF_HKDF_SHA384_ID];
    pair.initiator.algorithms.durations = vec![600, 3600];
    pair.responder.algorithms.durations = vec![3600, 600];
    let exchange = pair.negotiate();
    let accept = Accept::decode(&exchange.accept).unwrap();
    assert_eq!(accept.tbs.selection.kdf, KDF_HKDF_SHA256_ID);
    assert_eq!(accept.tbs.selection.duration, 600);

    let mut pair = Pair::new();
    let accept = Accept::decode(&pair.negotiate().accept).unwrap();
    assert_eq!(
        accept.tbs.selection.kdf, KDF_HKDF_SHA384_ID,
        "the default prefers HKDF-SHA384"
    );
}

#[test]
fn the_compact_encoding_is_preferred_and_a_peer_offering_only_encoding_1_gets_it() {
    use cpv4_wire::{KeyBlob, ObjectEncoding};
    for (offered, expected) in [
        (None, ObjectEncoding::CompactAttributeList),
        (
            Some(vec![cpv4::ENCODING_ATTRIBUTE_LIST_V1]),
            ObjectEncoding::AttributeList,
        ),
    ] {
        let mut pair = Pair::new();
        if let Some(offered) = offered {
            pair.initiator.algorithms.encodings = offered;
        }
        let exchange = pair.establish();
        let accept = Accept::decode(&exchange.accept).unwrap();
        assert_eq!(accept.tbs.selection.encoding, expected.id());
        let uid = exchange.uid.as_bytes();
        for (table, policy, partition) in [
            (&pair.source, &pair.responder, SOURCE),
            (&pair.target, &pair.initiator, TARGET),
        ] {
            let live = table.check_live(partition, policy, T, uid).unwrap();
            assert_eq!(live.encoding, expected);
        }
        // The session's blobs carry it, and the peer opens them.
        let blob = pair.source_blob(exchange.uid, b"object");
        assert_eq!(
            KeyBlob::decode(&blob).unwrap().header.encoding,
            expected.id()
        );
        let opened = pair
            .target
            .open(TARGET, &pair.initiator, T, uid, &blob)
            .unwrap();
        assert_eq!(&opened.payload[..], b"object");
    }
}

const KDF_HKDF_SHA256_ID: u32 = cpv4::KDF_HKDF_SHA256;
const KDF_HKDF_SHA384_ID: u32 = cpv4::KDF_HKDF_SHA384;

#[test]
fn leet_mode_negotiates_without_stable_ids() {
    let mut pair = Pair::new();
    pair.initiator.psk_mode = PskMode::LeetTags;
    pair.initiator
        .domains
        .insert(0, cpv4_crypto::psk::DomainPsk::from_bytes([1; 32]));
    let first = pair.start();
    let second = pair.start();
    let tags = |offer: &[u8]| match Offer::decode(offer).unwrap().psk {
        cpv4_wire::PskOffer::LeetTags(tags) => tags,
        other => panic!("expected LEET tags, got {other:?}"),
    };
    assert_eq!(tags(&first).len(), 2);
    assert!(
        tags(&first).iter().all(|tag| !tags(&second).contains(tag)),
        "tags are unlinkable"
    );
    let (accept, uid) = pair.respond(&second).unwrap();
    let confirm = pair.confirm(&accept, uid).unwrap();
    pair.deliver(uid, &confirm).unwrap();
}

#[test]
fn a_negotiation_survives_a_process_boundary_on_both_sides() {
    let key = Secret32::from_bytes([0x33; 32]);
    let mut pair = Pair::new();
    let offer = pair.start();
    // The initiator's process ends after Start; a new one restores the device state.
    let saved = pair.target.to_bytes(&key, &mut rng(5)).unwrap();
    pair.target = SessionTable::from_bytes(&saved, &key).unwrap();
    let (accept, uid) = pair.respond(&offer).unwrap();
    pair.source =
        SessionTable::from_bytes(&pair.source.to_bytes(&key, &mut rng(5)).unwrap(), &key).unwrap();
    let confirm = pair.confirm(&accept, uid).unwrap();
    pair.deliver(uid, &confirm).unwrap();
    let blob = pair.source_blob(uid, b"k");
    let restored =
        SessionTable::from_bytes(&pair.target.to_bytes(&key, &mut rng(5)).unwrap(), &key).unwrap();
    let opened = restored
        .open(TARGET, &pair.initiator, T, uid.as_bytes(), &blob)
        .unwrap();
    restored
        .accept_sequence(&pair.initiator, T, opened.token)
        .unwrap();
    // Accepted sequence numbers and tombstones persist too.
    let again =
        SessionTable::from_bytes(&restored.to_bytes(&key, &mut rng(5)).unwrap(), &key).unwrap();
    assert_rv(
        again.open(TARGET, &pair.initiator, T, uid.as_bytes(), &blob),
        CKR_CPV4_MSG_ERROR,
    );
    again
        .close(TARGET, &pair.initiator, T, uid.as_bytes())
        .unwrap();
    let closed =
        SessionTable::from_bytes(&again.to_bytes(&key, &mut rng(5)).unwrap(), &key).unwrap();
    closed
        .close(TARGET, &pair.initiator, T, uid.as_bytes())
        .unwrap();
}

#[test]
fn persisted_state_needs_its_key_and_refuses_corruption() {
    let key = Secret32::from_bytes([0x33; 32]);
    let mut pair = Pair::new();
    pair.establish();
    let saved = pair.source.to_bytes(&key, &mut rng(5)).unwrap();
    assert_rv(
        SessionTable::from_bytes(&saved, &Secret32::from_bytes([0x34; 32])),
        CKR_DEVICE_ERROR,
    );
    for len in [1, 4, 5, saved.len() / 2, saved.len() - 1] {
        assert_rv(
            SessionTable::from_bytes(&saved[..len], &key),
            CKR_DEVICE_ERROR,
        );
    }
    let mut extended = saved.clone();
    extended.push(0);
    assert_rv(SessionTable::from_bytes(&extended, &key), CKR_DEVICE_ERROR);
    assert_eq!(
        SessionTable::from_bytes(&[], &key).unwrap().counts(),
        (0, 0, 0)
    );
}

#[test]
fn session_keys_are_redacted_in_debug_and_sealed_in_persisted_state() {
    let key = Secret32::from_bytes([0x33; 32]);
    let mut pair = Pair::new();
    let exchange = pair.establish();
    let debug = format!("{:?}", pair.source);
    assert!(debug.contains("keys: SessionKeys { .. }"), "{debug}");
    // Secrets are sealed under the caller's key: the same table under two keys differs.
    let a = pair.source.to_bytes(&key, &mut rng(5)).unwrap();
    let b = pair
        .source
        .to_bytes(&Secret32::from_bytes([0x44; 32]), &mut rng(5))
        .unwrap();
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b, "secrets are sealed under the caller's key");
    let _ = exchange;
}

#[test]
fn two_partitions_of_one_device_clone_through_one_table() {
    // Register A31: records belong to a partition, so one device's table serves both ends.
    let mut fixture = Fixture::new();
    let initiator = fixture.initiator();
    let responder = fixture.responder();
    let device = SessionTable::new();
    let mut rng = rng(3);
    let offer = device.start(1, &initiator, T, &mut rng).unwrap();
    let input = |step, message, uid| cpv4_session::ContinueInput { step, message, uid };
    let accept = device
        .continue_negotiation(2, &responder, T, &mut rng, input(2, &offer, None))
        .unwrap();
    let confirm = device
        .continue_negotiation(
            1,
            &initiator,
            T,
            &mut rng,
            input(3, &accept.output, Some(accept.uid.as_bytes())),
        )
        .unwrap();
    device
        .deliver_confirm(2, &responder, T, accept.uid.as_bytes(), &confirm.output)
        .unwrap();
    let blob = device
        .seal(
            2,
            &responder,
            T,
            accept.uid.as_bytes(),
            ElementType::Cryptoki,
            b"k",
        )
        .unwrap();
    assert_eq!(
        device
            .open(1, &initiator, T, accept.uid.as_bytes(), &blob)
            .unwrap()
            .payload
            .as_slice(),
        b"k"
    );
    assert_eq!(device.counts(), (0, 0, 2));

    // A partition negotiating with itself makes a UID it already holds.
    let offer = device.start(3, &initiator, T, &mut rng).unwrap();
    let accept = device
        .continue_negotiation(3, &responder, T, &mut rng, input(2, &offer, None))
        .unwrap();
    let result = device.continue_negotiation(
        3,
        &initiator,
        T,
        &mut rng,
        input(3, &accept.output, Some(accept.uid.as_bytes())),
    );
    assert_rv(result, CKR_SESSION_ID_EXISTS);
}

/// Register A49: the vendor wrapper calls the initiator's Continue without the UID; the Accept
/// names the session, which completes as with the UID given, and a tampered Accept still
/// fails its checks.
#[test]
fn the_initiators_continue_without_a_uid_takes_the_session_the_accept_names() {
    let mut pair = Pair::new();
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    let mut tampered = accept.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let refused = pair.target.continue_negotiation(
        TARGET,
        &pair.initiator,
        T,
        &mut pair.rng,
        cpv4_session::ContinueInput {
            step: 3,
            message: &tampered,
            uid: None,
        },
    );
    assert!(
        refused.is_err(),
        "a tampered Accept is refused without a UID too"
    );
    let out = pair
        .target
        .continue_negotiation(
            TARGET,
            &pair.initiator,
            T,
            &mut pair.rng,
            cpv4_session::ContinueInput {
                step: 3,
                message: &accept,
                uid: None,
            },
        )
        .unwrap();
    assert_eq!((out.step, out.status.value(), out.uid), (4, 2, uid));
    pair.deliver(uid, &out.output).unwrap();
}

/// Register A51: an abandoned Offer leaves nothing live; an Accept for it then gets
/// `CKR_SESSION_NEGOTIATION_NOT_STARTED`; abandoning twice is fine, an Offer this partition
/// never made is `CKR_SESSION_NEGOTIATION_INVALID`.
#[test]
fn an_abandoned_offer_leaves_a_tombstone_and_its_accept_is_refused() {
    let mut pair = Pair::new();
    let offer = pair.start();
    pair.target
        .abandon(TARGET, &pair.initiator, T, &offer)
        .unwrap();
    pair.target
        .abandon(TARGET, &pair.initiator, T, &offer)
        .unwrap();
    let (accept, uid) = pair.respond(&offer).unwrap();
    assert_rv(
        pair.confirm(&accept, uid),
        CKR_SESSION_NEGOTIATION_NOT_STARTED,
    );
    // The target's next Offer, on the source partition, which never made it.
    let next = pair.start();
    assert_rv(
        pair.source.abandon(SOURCE, &pair.responder, T, &next),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    assert_rv(
        pair.target
            .abandon(TARGET, &pair.initiator, T, b"not an offer"),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
}

/// One insert call's numbers through `SequenceBatch`, inside one step of the target's store:
/// two sessions interleaved (A, B, then A again, which must see A's number accepted before
/// B's), and a replay within the batch refused without losing what was accepted before it.
/// What the batch wrote is what the next call sees: every accepted blob is then a replay.
#[test]
fn a_sequence_batch_accepts_interleaved_sessions_and_refuses_a_replay_within_it() {
    use cpv4_session::store::Store;
    use cpv4_session::{SequenceBatch, SessionError};
    use cpv4_wire::SessionUid;

    let mut pair = Pair::new();
    let a = pair.establish().uid;
    let b = pair.establish().uid;
    let (a0, b0, a1, a2) = (
        pair.source_blob(a, b"a0"),
        pair.source_blob(b, b"b0"),
        pair.source_blob(a, b"a1"),
        pair.source_blob(a, b"a2"),
    );
    let open = |uid: SessionUid, blob: &[u8]| {
        pair.target
            .open(TARGET, &pair.initiator, T, uid.as_bytes(), blob)
    };
    let tokens = [
        open(a, &a0).unwrap().token,
        open(b, &b0).unwrap().token,
        open(a, &a1).unwrap().token,
        open(a, &a0).unwrap().token,
    ];
    let results = pair
        .target
        .store()
        .atomically(|txn| {
            let mut batch = SequenceBatch::begin(txn, &pair.initiator, T)?;
            let results: Vec<_> = tokens.into_iter().map(|t| batch.accept(t)).collect();
            batch.finish()?;
            Ok::<_, SessionError>(results)
        })
        .unwrap()
        .unwrap();
    assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
    assert!(
        matches!(results[3], Err(SessionError::BlobRefused(_))),
        "{results:?}"
    );
    for (uid, blob) in [(a, &a0), (b, &b0), (a, &a1)] {
        assert!(
            matches!(open(uid, blob), Err(SessionError::BlobRefused(_))),
            "an accepted blob opened again"
        );
    }
    // A number not in the batch is still free.
    let token = open(a, &a2).unwrap().token;
    pair.target
        .accept_sequence(&pair.initiator, T, token)
        .unwrap();
}
