//! Eight threads share one session across its expiry: every call returns a documented code,
//! no extract succeeds past the expiry, both `CKR_SESSION_ID_EXPIRED` (a call that finds the
//! expired session before a sweep) and `CKR_SESSION_ID_INVALID` (after it) are seen, none
//! panics, and the tables end consistent.

use std::collections::BTreeSet;
use std::sync::Mutex;

use cpv4_session::HsmTime;
use cpv4_session::testing::*;
use cpv4_wire::ElementType;
use cpv4_wire::consts::*;

#[test]
fn eight_threads_share_a_session_across_its_expiry() {
    let mut pair = Pair::new();
    let uid = pair.establish().uid;
    let seen = Mutex::new(BTreeSet::new());
    let (source, target, responder, initiator) =
        (&pair.source, &pair.target, &pair.responder, &pair.initiator);
    std::thread::scope(|scope| {
        for thread in 0..8u64 {
            let seen = &seen;
            scope.spawn(move || {
                // Each thread walks the clock from 30 s before to 30 s after the 3600 s expiry,
                // at its own pace, so calls on both sides of the expiry interleave. Closes
                // happen only past the expiry (from +3610), after each thread's own seals at
                // +3600..+3609: the first call of the device past the expiry is a seal, which
                // must see the expired session before any sweep or close removed it.
                for step in 0..60u64 {
                    let time = NOW + 3570 + step + thread % 3;
                    let now = HsmTime::At(time);
                    let closing = step >= 40 && step % 7 == 0;
                    let codes = [
                        source
                            .seal(
                                SOURCE,
                                responder,
                                now,
                                uid.as_bytes(),
                                ElementType::Cryptoki,
                                b"k",
                            )
                            .and_then(|blob| {
                                let opened =
                                    target.open(TARGET, initiator, now, uid.as_bytes(), &blob)?;
                                target.accept_sequence(initiator, now, opened.token)
                            }),
                        if closing {
                            source.close(SOURCE, responder, now, uid.as_bytes())
                        } else {
                            Ok(())
                        },
                    ];
                    let past_expiry = time >= NOW + 3600;
                    let [extract, close] = codes;
                    let extract = extract.map_or_else(|e| e.rv(), |()| CKR_OK);
                    // No object moves once the session has expired.
                    assert!(
                        !(past_expiry && extract == CKR_OK),
                        "an extract succeeded past the expiry"
                    );
                    let mut seen = seen.lock().unwrap();
                    seen.insert(extract);
                    seen.insert(close.map_or_else(|e| e.rv(), |()| CKR_OK));
                }
            });
        }
    });
    let seen = seen.into_inner().unwrap();
    let documented = BTreeSet::from([CKR_OK, CKR_SESSION_ID_EXPIRED, CKR_SESSION_ID_INVALID]);
    assert!(
        seen.is_subset(&documented),
        "undocumented codes: {:?}",
        seen.difference(&documented)
            .map(|rv| rv_display(*rv))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        seen, documented,
        "every documented code, the expired one included, must be seen"
    );
    // Afterwards the session is gone on both sides, and the tables keep working.
    let late = HsmTime::At(NOW + 4000);
    assert!(
        source
            .seal(
                SOURCE,
                responder,
                late,
                uid.as_bytes(),
                ElementType::Cryptoki,
                b"k"
            )
            .is_err()
    );
    target.sweep(NOW + 4000).unwrap();
    assert_eq!(target.counts(), (0, 0, 0));
    assert_eq!(source.counts(), (0, 0, 0));
}
