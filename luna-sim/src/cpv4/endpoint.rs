//! The simulator as the two endpoints of `cpv4-migrate`'s flow: a partition through one
//! PKCS#11 session ([`SimEndpoint`]) and the legacy clone between two sessions
//! ([`SimLegacy`]), so `CA_MigrateKeys` runs the flow written once in `cpv4-migrate` on the
//! same low-level calls an application makes.

use cpv4_migrate::{
    Continued, Endpoint, Extraction, Insertion, LegacyCloner, MigrationItem, ObjectHandle,
    SessionUid,
};
use cpv4_wire::consts::{CKR_ARGUMENTS_BAD, CkRv, CkUlong};
use cpv4_wire::limits::MAX_BLOB_SIZE;

use super::{ExtractItem, InsertItem};
use crate::session::table::SessionHandle;
use crate::sim::Simulator;

/// One partition of a migration: the simulator's CPv4 calls on one session.
#[derive(Debug, Clone, Copy)]
pub struct SimEndpoint<'a> {
    /// The simulator.
    pub sim: &'a Simulator,
    /// The Crypto Officer session on the partition.
    pub session: SessionHandle,
}

impl Endpoint for SimEndpoint<'_> {
    fn cpv4_enabled(&mut self) -> Result<bool, CkRv> {
        self.sim.cpv4_enabled(self.session).map_err(|e| e.rv())
    }

    fn start(&mut self) -> Result<Vec<u8>, CkRv> {
        self.sim.cpv4_start(self.session, &[]).map_err(|e| e.rv())
    }

    fn continue_negotiation(
        &mut self,
        step: CkUlong,
        input: &[u8],
        uid: Option<&SessionUid>,
    ) -> Result<Continued, CkRv> {
        let output = self
            .sim
            .cpv4_continue(self.session, step, input, uid.map(|uid| uid.0.as_slice()))
            .map_err(|e| e.rv())?;
        Ok(Continued {
            step: CkUlong::from(output.step),
            output: output.output,
            uid: output.uid,
        })
    }

    fn extract(
        &mut self,
        uid: &SessionUid,
        input: &[u8],
        flags: CkUlong,
        objects: &[(CkUlong, ObjectHandle)],
    ) -> Result<Extraction, CkRv> {
        let items: Vec<ExtractItem> = objects
            .iter()
            .map(|&(object_type, handle)| ExtractItem {
                object_type,
                handle,
                capacity: MAX_BLOB_SIZE,
            })
            .collect();
        let extracted = self
            .sim
            .cpv4_extract(self.session, &uid.0, input, flags, &items, false)
            .map_err(|e| e.rv())?;
        Ok(Extraction {
            results: extracted.results,
            blobs: extracted
                .blobs
                .into_iter()
                .map(|blob| blob.map(|blob| blob.to_vec()))
                .collect(),
        })
    }

    fn insert(
        &mut self,
        uid: &SessionUid,
        flags: CkUlong,
        blobs: &[(CkUlong, CkUlong, &[u8])],
    ) -> Result<Insertion, CkRv> {
        let items: Vec<InsertItem<'_>> = blobs
            .iter()
            .map(|&(object_type, storage_type, blob)| InsertItem {
                storage_type,
                object_type,
                blob,
            })
            .collect();
        let inserted = self
            .sim
            .cpv4_insert(self.session, &uid.0, &[], flags, &items)
            .map_err(|e| e.rv())?;
        Ok(Insertion {
            results: inserted.results,
            handles: inserted.handles,
        })
    }

    fn close(&mut self, uid: &SessionUid) -> Result<(), CkRv> {
        self.sim
            .cpv4_close(self.session, &uid.0)
            .map_err(|e| e.rv())
    }

    fn abandon(&mut self, offer: &[u8]) -> Result<(), CkRv> {
        self.sim
            .cpv4_abandon(self.session, offer)
            .map_err(|e| e.rv())
    }
}

/// The legacy clone between two sessions of one simulator.
#[derive(Debug, Clone, Copy)]
pub struct SimLegacy<'a> {
    /// The simulator.
    pub sim: &'a Simulator,
    /// The session on the partition the objects come from.
    pub source: SessionHandle,
    /// The session on the partition they go to.
    pub target: SessionHandle,
}

impl LegacyCloner for SimLegacy<'_> {
    fn check(&mut self) -> Result<(), CkRv> {
        self.sim
            .clone_check(self.target, self.source)
            .map_err(|e| e.rv())
    }

    fn clone_object(
        &mut self,
        object_type: CkUlong,
        handle: ObjectHandle,
    ) -> Result<ObjectHandle, CkRv> {
        self.sim
            .clone_object(self.target, self.source, object_type, handle)
            .map_err(|e| e.rv())
    }
}

impl Simulator {
    /// `CA_MigrateKeys(source, target, flags, n, data)` (protocol.md 2.4): the flow of
    /// `cpv4-migrate` on the two sessions, which may be on different simulated HSMs, with the
    /// legacy clone as fallback where CPv4 is off on either partition. Two sessions of one
    /// partition are `CKR_ARGUMENTS_BAD`, before any state is made (register A52).
    pub fn migrate_keys(
        &self,
        source: SessionHandle,
        target: SessionHandle,
        flags: CkUlong,
        items: &mut [MigrationItem],
    ) -> CkRv {
        let slots = {
            let inner = self.lock();
            inner
                .session(source)
                .and_then(|s| inner.session(target).map(|t| (s.slot, t.slot)))
        };
        match slots {
            Err(error) => return error.rv(),
            Ok((from, to)) if from == to => return CKR_ARGUMENTS_BAD,
            Ok(_) => {}
        }
        let mut legacy = SimLegacy {
            sim: self,
            source,
            target,
        };
        cpv4_migrate::migrate_keys(
            &mut SimEndpoint {
                sim: self,
                session: source,
            },
            &mut SimEndpoint {
                sim: self,
                session: target,
            },
            Some(&mut legacy),
            flags,
            items,
        )
    }
}
