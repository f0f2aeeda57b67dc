//! Every single-bit flip of every protocol message and of a key blob is rejected, and a
//! rejected message leaves the honest negotiation able to complete.
#![allow(clippy::indexing_slicing)]

use cpv4_session::ContinueInput;
use cpv4_session::testing::*;

fn flips(message: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..message.len() * 8).map(move |bit| {
        let mut flipped = message.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        flipped
    })
}

#[test]
fn every_bit_flip_of_the_offer_is_rejected_by_the_responder() {
    let mut pair = Pair::new();
    let offer = pair.start();
    for flipped in flips(&offer) {
        // The binders cover every byte of the Offer: a changed Offer gets no Accept and
        // leaves no state on the responder.
        assert!(
            pair.respond(&flipped).is_err(),
            "a flipped Offer was answered"
        );
    }
    assert_eq!(pair.source.counts(), (0, 0, 0));
    let (accept, uid) = pair.respond(&offer).unwrap();
    pair.confirm(&accept, uid).unwrap();
}

#[test]
fn every_bit_flip_of_the_accept_is_rejected() {
    let mut pair = Pair::new();
    let offer = pair.start();
    let (accept, uid) = pair.respond(&offer).unwrap();
    let all: Vec<Vec<u8>> = flips(&accept).collect();
    let (initiator, target) = (&pair.initiator, &pair.target);
    std::thread::scope(|scope| {
        for (worker, chunk) in all.chunks(all.len().div_ceil(2)).enumerate() {
            scope.spawn(move || {
                let mut rng = rng(100 + worker as u64);
                for flipped in chunk {
                    let result = target.continue_negotiation(
                        TARGET,
                        initiator,
                        T,
                        &mut rng,
                        ContinueInput {
                            step: 3,
                            message: flipped,
                            uid: Some(uid.as_bytes()),
                        },
                    );
                    assert!(result.is_err(), "a flipped Accept was accepted");
                }
            });
        }
    });
    pair.confirm(&accept, uid).unwrap();
}

#[test]
fn every_bit_flip_of_the_confirm_is_rejected() {
    let mut pair = Pair::new();
    let exchange = pair.negotiate();
    let all: Vec<Vec<u8>> = flips(&exchange.confirm).collect();
    let (responder, source, uid) = (&pair.responder, &pair.source, exchange.uid);
    std::thread::scope(|scope| {
        for chunk in all.chunks(all.len().div_ceil(2)) {
            scope.spawn(move || {
                for flipped in chunk {
                    let result =
                        source.deliver_confirm(SOURCE, responder, T, uid.as_bytes(), flipped);
                    assert!(result.is_err(), "a flipped Confirm was accepted");
                }
            });
        }
    });
    pair.deliver(exchange.uid, &exchange.confirm).unwrap();
}

#[test]
fn every_bit_flip_of_a_key_blob_is_rejected() {
    let mut pair = Pair::new();
    let uid = pair.establish().uid;
    for payload in [&[0x42u8; 32][..], &[0x17u8; 2048][..]] {
        let blob = pair.source_blob(uid, payload);
        for flipped in flips(&blob) {
            let result = pair
                .target
                .open(TARGET, &pair.initiator, T, uid.as_bytes(), &flipped);
            assert!(result.is_err(), "a flipped key blob was opened");
        }
        let opened = pair
            .target
            .open(TARGET, &pair.initiator, T, uid.as_bytes(), &blob)
            .unwrap();
        assert_eq!(opened.payload.as_slice(), payload);
    }
}
