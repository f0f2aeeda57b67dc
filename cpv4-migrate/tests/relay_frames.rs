//! The relay's frames: every request and response round-trips, and the decoder refuses
//! every truncation, extension, other version, unknown kind and oversized length.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use cpv4_migrate::relay::{
    BATCH_OBJECTS, MAX_FRAME, RELAY_VERSION, RelayError, Request, Response, decode_request,
    decode_response, read_frame,
};
use cpv4_migrate::{Continued, Extraction, Insertion, SessionUid};
use proptest::prelude::*;

/// The frame CRC: the relay's own choice of CRC-32 (IEEE), computed independently.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn requests() -> Vec<Request> {
    let uid = SessionUid([7; 16]);
    vec![
        Request::Hello,
        Request::Enabled,
        Request::Start,
        Request::Continue {
            step: 2,
            input: vec![1, 2, 3],
            uid: None,
        },
        Request::Continue {
            step: 3,
            input: vec![4; 300],
            uid: Some(uid),
        },
        Request::Extract {
            uid,
            input: vec![9; 40],
            flags: 1,
            objects: vec![(0, 5), (1, 0x8000_0001)],
        },
        Request::Extract {
            uid,
            input: vec![],
            flags: 0,
            objects: vec![],
        },
        Request::Insert {
            uid,
            flags: 1,
            blobs: vec![(0, 1, vec![1; 70]), (0, 3, vec![])],
        },
        Request::Close { uid },
        Request::Abandon {
            offer: vec![3; 282],
        },
        Request::Lookup {
            ouids: vec![vec![1; 12], vec![]],
        },
    ]
}

fn responses() -> Vec<Response> {
    vec![
        Response::Failed(0x8000_010F),
        Response::Hello {
            label: "target".into(),
            serial: "150002001".into(),
        },
        Response::Done,
        Response::Flag(true),
        Response::Flag(false),
        Response::Message(vec![5; 282]),
        Response::Continued(Continued {
            step: 4,
            output: vec![6; 963],
            uid: SessionUid([1; 16]),
        }),
        Response::Extraction(Extraction {
            results: vec![0, 0x82, 0],
            blobs: vec![Some(vec![1; 90]), None, Some(vec![])],
        }),
        Response::Insertion(Insertion {
            results: vec![0, 0x8000_0100],
            handles: vec![12, 0],
        }),
        Response::Handles(vec![0, 44, 45]),
    ]
}

#[test]
fn every_request_and_response_round_trips() {
    for request in requests() {
        let frame = request.encode();
        assert_eq!(frame[0], RELAY_VERSION);
        assert_eq!(decode_request(&frame).unwrap(), request);
        assert_eq!(read_frame(&mut frame.as_slice()).unwrap().unwrap(), frame);
    }
    for response in responses() {
        assert_eq!(decode_response(&response.encode()).unwrap(), response);
    }
}

/// A relayed batch of the largest blobs, asked for and answered, fits one frame.
#[test]
fn a_relayed_batch_of_the_largest_blobs_fits_a_frame() {
    let blob = vec![0xA5; cpv4_wire::limits::MAX_BLOB_SIZE];
    let insert = Request::Insert {
        uid: SessionUid([7; 16]),
        flags: 1,
        blobs: vec![(0, 0, blob.clone()); BATCH_OBJECTS],
    };
    let frame = insert.encode();
    assert!(frame.len() <= MAX_FRAME, "{}", frame.len());
    assert_eq!(decode_request(&frame).unwrap(), insert);
    let extracted = Response::Extraction(Extraction {
        results: vec![0; BATCH_OBJECTS],
        blobs: vec![Some(blob); BATCH_OBJECTS],
    });
    assert_eq!(decode_response(&extracted.encode()).unwrap(), extracted);
    const { assert!(BATCH_OBJECTS <= cpv4_migrate::BATCH_OBJECTS) };
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let frames: Vec<Vec<u8>> = requests()
        .iter()
        .map(Request::encode)
        .chain(responses().iter().map(Response::encode))
        .collect();
    for frame in &frames {
        for cut in 0..frame.len() {
            let prefix = &frame[..cut];
            assert!(decode_request(prefix).is_err() && decode_response(prefix).is_err());
            match read_frame(&mut &prefix[..]) {
                Ok(None) => assert_eq!(cut, 0),
                Err(RelayError::Truncated) => {}
                other => panic!("a prefix of {cut} bytes gave {other:?}"),
            }
        }
        let mut longer = frame.clone();
        longer.push(0);
        assert!(decode_request(&longer).is_err() && decode_response(&longer).is_err());
        // A payload one byte longer, its length and CRC fixed: trailing bytes in the frame.
        let mut longer = frame.clone();
        longer.insert(longer.len() - 4, 0);
        let len = u32::from_be_bytes(longer[2..6].try_into().unwrap()) + 1;
        longer[2..6].copy_from_slice(&len.to_be_bytes());
        reseal(&mut longer);
        assert!(decode_request(&longer).is_err() && decode_response(&longer).is_err());
        // Any single flipped bit fails the CRC or the parse.
        for at in 0..frame.len() {
            for bit in 0..8 {
                let mut damaged = frame.clone();
                damaged[at] ^= 1 << bit;
                assert!(decode_request(&damaged).is_err() && decode_response(&damaged).is_err());
            }
        }
    }
}

/// Recomputes the two CRCs of an edited frame, so the edit reaches the parser.
fn reseal(frame: &mut [u8]) {
    let header = crc32(&frame[..6]);
    frame[6..10].copy_from_slice(&header.to_be_bytes());
    let n = frame.len() - 4;
    let crc = crc32(&frame[..n]);
    frame[n..].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn another_version_an_unknown_kind_and_an_oversized_length_are_refused() {
    let mut frame = Request::Start.encode();
    frame[0] = RELAY_VERSION + 1;
    reseal(&mut frame);
    assert!(matches!(
        decode_request(&frame),
        Err(RelayError::Version(_))
    ));
    assert!(matches!(
        read_frame(&mut frame.as_slice()),
        Err(RelayError::Version(_))
    ));
    let mut frame = Request::Start.encode();
    frame[1] = 0x42;
    reseal(&mut frame);
    assert!(matches!(
        decode_request(&frame),
        Err(RelayError::Kind(0x42))
    ));
    // A response kind is not a request, and the reverse.
    assert!(decode_request(&Response::Done.encode()).is_err());
    assert!(decode_response(&Request::Start.encode()).is_err());
    // The length is checked before anything is allocated or read.
    let too_long = u32::try_from(MAX_FRAME + 1).unwrap().to_be_bytes();
    let mut header = vec![
        RELAY_VERSION,
        3,
        too_long[0],
        too_long[1],
        too_long[2],
        too_long[3],
    ];
    header.extend_from_slice(&crc32(&header).to_be_bytes());
    assert!(matches!(
        read_frame(&mut &header[..]),
        Err(RelayError::TooLarge(_))
    ));
    // A list count past the payload is refused rather than allocated.
    let mut lookup = Request::Lookup { ouids: vec![] }.encode();
    lookup[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
    reseal(&mut lookup);
    assert!(matches!(
        decode_request(&lookup),
        Err(RelayError::Malformed(_))
    ));
    // A flag other than 0 and 1.
    let mut flag = Response::Flag(true).encode();
    flag[10] = 2;
    reseal(&mut flag);
    assert!(matches!(
        decode_response(&flag),
        Err(RelayError::Malformed(_))
    ));
    // The CRC matches the independent computation.
    let frame = Request::Start.encode();
    assert_eq!(
        frame[frame.len() - 4..],
        crc32(&frame[..frame.len() - 4]).to_be_bytes()
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        cpv4_migrate::relay::fuzz_frames(&bytes);
    }

    #[test]
    fn arbitrary_payloads_of_every_kind_never_panic(kind in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut frame = vec![RELAY_VERSION, kind];
        frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(&payload);
        cpv4_migrate::relay::fuzz_frames(&frame);
    }

    #[test]
    fn mutated_frames_never_panic(index in any::<prop::sample::Index>(), value in any::<u8>(), which in 0usize..21) {
        let frames: Vec<Vec<u8>> = requests()
            .iter()
            .map(Request::encode)
            .chain(responses().iter().map(Response::encode))
            .collect();
        let mut frame = frames[which % frames.len()].clone();
        let at = index.index(frame.len() - 4);
        frame[at] = value;
        reseal(&mut frame);
        if let Ok(request) = decode_request(&frame) {
            prop_assert_eq!(request.encode(), frame.clone());
        }
        if let Ok(response) = decode_response(&frame) {
            prop_assert_eq!(response.encode(), frame);
        }
    }
}

/// An endpoint that only counts the calls that reach it.
#[derive(Default)]
struct Counting {
    calls: usize,
}

impl cpv4_migrate::Endpoint for Counting {
    fn cpv4_enabled(&mut self) -> Result<bool, u64> {
        self.calls += 1;
        Ok(true)
    }
    fn start(&mut self) -> Result<Vec<u8>, u64> {
        self.calls += 1;
        Ok(Vec::new())
    }
    fn continue_negotiation(
        &mut self,
        _: u64,
        _: &[u8],
        _: Option<&SessionUid>,
    ) -> Result<Continued, u64> {
        self.calls += 1;
        Err(0x5)
    }
    fn extract(
        &mut self,
        _: &SessionUid,
        _: &[u8],
        _: u64,
        objects: &[(u64, u64)],
    ) -> Result<Extraction, u64> {
        self.calls += 1;
        Ok(Extraction {
            results: vec![0; objects.len()],
            blobs: vec![Some(vec![1]); objects.len()],
        })
    }
    fn insert(
        &mut self,
        _: &SessionUid,
        _: u64,
        blobs: &[(u64, u64, &[u8])],
    ) -> Result<Insertion, u64> {
        self.calls += 1;
        Ok(Insertion {
            results: vec![0; blobs.len()],
            handles: vec![1; blobs.len()],
        })
    }
    fn close(&mut self, _: &SessionUid) -> Result<(), u64> {
        self.calls += 1;
        Ok(())
    }
    fn abandon(&mut self, _: &[u8]) -> Result<(), u64> {
        self.calls += 1;
        Ok(())
    }
}

impl cpv4_migrate::relay::Partition for Counting {
    fn identity(&mut self) -> (String, String) {
        ("p".into(), "1".into())
    }
    fn lookup(&mut self, ouids: &[Vec<u8>]) -> Result<Vec<u64>, u64> {
        Ok(vec![0; ouids.len()])
    }
}

/// The relay's client asks the flow for relayed batches, and the server gives a peer no more
/// work per request than one: a longer Extract or Insert is `CKR_ARGUMENTS_BAD` and reaches
/// no endpoint.
#[test]
fn relayed_calls_hold_at_most_a_relayed_batch() {
    use cpv4_migrate::Endpoint;
    let client = cpv4_migrate::relay::RelayClient::new(std::io::empty(), std::io::sink());
    assert_eq!(client.max_batch(), BATCH_OBJECTS);
    let uid = SessionUid([7; 16]);
    for count in [BATCH_OBJECTS, BATCH_OBJECTS + 1] {
        let requests = [
            Request::Extract {
                uid,
                input: Vec::new(),
                flags: 0,
                objects: vec![(0, 1); count],
            },
            Request::Insert {
                uid,
                flags: 0,
                blobs: vec![(0, 0, vec![1]); count],
            },
        ];
        for request in requests {
            let mut served = Counting::default();
            let mut partition = Counting::default();
            let mut answer = Vec::new();
            cpv4_migrate::relay::serve(
                &mut served,
                &mut partition,
                &mut request.encode().as_slice(),
                &mut answer,
            )
            .unwrap();
            let response = decode_response(&answer).unwrap();
            if count > BATCH_OBJECTS {
                assert_eq!(response, Response::Failed(0x7));
                assert_eq!(served.calls, 0);
            } else {
                assert!(!matches!(response, Response::Failed(_)), "{response:?}");
                assert_eq!(served.calls, 1);
            }
        }
    }
}

/// A Lookup of more OUIDs than the command line's largest batch is `CKR_ARGUMENTS_BAD`.
#[test]
fn a_lookup_holds_at_most_the_largest_batch() {
    use cpv4_migrate::relay::MAX_LOOKUP;
    for (count, refused) in [(MAX_LOOKUP, false), (MAX_LOOKUP + 1, true)] {
        let request = Request::Lookup {
            ouids: vec![Vec::new(); count],
        };
        let mut answer = Vec::new();
        cpv4_migrate::relay::serve(
            &mut Counting::default(),
            &mut Counting::default(),
            &mut request.encode().as_slice(),
            &mut answer,
        )
        .unwrap();
        let response = decode_response(&answer).unwrap();
        assert_eq!(response == Response::Failed(0x7), refused);
    }
}
