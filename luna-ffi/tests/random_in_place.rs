//! `C_GenerateRandom` writes into the caller's buffer in place: a large length costs the
//! library no allocation (the audit found it allocated the caller's length, so a huge one
//! could abort the host on allocation failure). A counting global allocator watches the call;
//! this file holds one scenario so it sees (almost) only that call.
#![allow(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use std::alloc::System;
use std::ptr::null_mut;

use cpv4_wire::consts::*;
use luna_ffi::types::*;
use luna_ffi::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

scenario!(
    generate_random_allocates_nothing_for_its_output,
    scenario_random_in_place,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let mut session: CK_SESSION_HANDLE = 0;
        let rv = call!(C_OpenSession(
            0,
            CKF_SERIAL_SESSION,
            null_mut(),
            None,
            &mut session
        ));
        assert_eq!(rv, CKR_OK);
        let mut buffer = vec![0u8; 16 << 20];
        let len = CK_ULONG::try_from(buffer.len()).unwrap();
        let region = Region::new(GLOBAL);
        let rv = call!(C_GenerateRandom(session, buffer.as_mut_ptr(), len));
        let allocated = region.change().bytes_allocated;
        assert_eq!(rv, CKR_OK);
        assert!(
            allocated < 64 * 1024,
            "{allocated} bytes allocated for 16 MiB of output"
        );
        // Filled: sixteen mebibytes of zeros from a real generator will not happen.
        assert!(
            buffer
                .chunks(4096)
                .all(|chunk| chunk.iter().any(|&b| b != 0))
        );
        // Before C_Initialize's session checks, the order is the standard's: a bad session
        // with a NULL buffer is the session's code.
        assert_eq!(
            call!(C_GenerateRandom(0xDEAD, null_mut(), 16)),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
        assert_eq!(
            call!(C_GenerateRandom(session, null_mut(), 16)),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
    }
);
