//! The client side of CPv4 key cloning: the flow of `CA_MigrateKeys` (docs/protocol.md
//! section 2.4), written once over two [`Endpoint`]s.
//!
//! An endpoint is one partition as the client reaches it: through a PKCS#11 module in this
//! process (luna-ffi's `CA_MigrateKeys`), or through a relay to another host (the `cpv4`
//! command line). The flow negotiates a session (Start on the target, Continue on the source,
//! Continue on the target), moves the objects in batches of at most [`BATCH_OBJECTS`]
//! (`CA_Extract` on the source, the first call carrying the Confirm, then `CA_Insert` on the
//! target of what was extracted), fills every object's `rv` and `target_handle`, and closes the
//! session on both sides. Where CPv4 is off on either partition it falls back to the legacy
//! one-object clone ([`LegacyCloner`]) if the caller has one.
//!
//! The flow holds one batch of key blobs at a time: its memory is bounded by
//! `BATCH_OBJECTS * MAX_BLOB_SIZE` (62.5 MiB) whatever the number of objects. An endpoint may
//! ask for smaller batches ([`Endpoint::max_batch`]): the relay does, so that a batch of the
//! largest blobs fits one of its frames.
//!
//! ```
//! use cpv4_migrate::MigrationItem;
//! use cpv4_wire::consts::CK_CRYPTOKI_ELEMENT;
//!
//! let items: Vec<MigrationItem> =
//!     (1..=3).map(|handle| MigrationItem::new(CK_CRYPTOKI_ELEMENT, handle)).collect();
//! assert!(items.iter().all(|item| item.target_handle == 0));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod relay;

pub use cpv4_wire::SessionUid;
use cpv4_wire::consts::{
    CKF_CONTINUE_ON_ERR, CKR_ARGUMENTS_BAD, CKR_CLONE_NOT_ATTEMPTED, CKR_GENERAL_ERROR, CKR_OK,
    CKR_PROTOCOL_DISABLED, CKR_SESSION_ID_EXPIRED, CKR_SESSION_ID_INVALID, CkRv, CkUlong,
    LUNA_STORAGE_DEFAULT,
};

/// A PKCS#11 object handle.
pub type ObjectHandle = CkUlong;

/// Most objects of one `CA_Extract`/`CA_Insert` pair. Each pair is a transaction on each side,
/// with a commit to disk and a session record read and written: a batch of 1,024 makes that
/// a small share of a key's cost, and keeps the flow's memory bound under 64 MiB.
pub const BATCH_OBJECTS: usize = 1024;

/// The negotiation steps of the flow table (protocol.md 2.1).
const STEP_OFFER: CkUlong = 2;
const STEP_ACCEPT: CkUlong = 3;

/// What a Continue produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continued {
    /// The step of the output message (3 after the Offer, 4 after the Accept).
    pub step: CkUlong,
    /// The output message.
    pub output: Vec<u8>,
    /// The session UID.
    pub uid: SessionUid,
}

/// What a `CA_Extract` produced, one entry per object asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// Each object's result (`CKR_OK`, a per-object code, or `CKR_CLONE_NOT_ATTEMPTED`).
    pub results: Vec<CkRv>,
    /// Each object's key blob: present exactly where the result is `CKR_OK`.
    pub blobs: Vec<Option<Vec<u8>>>,
}

/// What a `CA_Insert` produced, one entry per blob given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Insertion {
    /// Each blob's result.
    pub results: Vec<CkRv>,
    /// Each new object's handle (meaningful where the result is `CKR_OK`).
    pub handles: Vec<ObjectHandle>,
}

/// One partition, as the client reaches it: the low-level CPv4 calls on one session.
///
/// An `Err` is a call-level failure (the call did nothing); per-object outcomes are in the
/// `Ok` value, also when the call stopped at a failing object.
pub trait Endpoint {
    /// Whether CPv4 can be used on this partition (the device decides: HSM policy 7, the
    /// partition's CPv4 switch, policy 42, the firmware).
    ///
    /// # Errors
    ///
    /// The session's code (`CKR_SESSION_HANDLE_INVALID`...).
    fn cpv4_enabled(&mut self) -> Result<bool, CkRv>;

    /// `CA_MigrationStartSessionNegotiation`: the Offer.
    ///
    /// # Errors
    ///
    /// The call's code.
    fn start(&mut self) -> Result<Vec<u8>, CkRv>;

    /// `CA_MigrationContinueSessionNegotiation` at `step` with the peer's message.
    ///
    /// # Errors
    ///
    /// The call's code.
    fn continue_negotiation(
        &mut self,
        step: CkUlong,
        input: &[u8],
        uid: Option<&SessionUid>,
    ) -> Result<Continued, CkRv>;

    /// `CA_Extract` of `objects` (`(objectType, handle)` pairs); `input` is the Confirm on the
    /// first call of a session, else empty.
    ///
    /// # Errors
    ///
    /// The call's code.
    fn extract(
        &mut self,
        uid: &SessionUid,
        input: &[u8],
        flags: CkUlong,
        objects: &[(CkUlong, ObjectHandle)],
    ) -> Result<Extraction, CkRv>;

    /// `CA_Insert` of `blobs` (`(objectType, storageType, blob)`).
    ///
    /// # Errors
    ///
    /// The call's code.
    fn insert(
        &mut self,
        uid: &SessionUid,
        flags: CkUlong,
        blobs: &[(CkUlong, CkUlong, &[u8])],
    ) -> Result<Insertion, CkRv>;

    /// `CA_MigrationCloseSession`.
    ///
    /// # Errors
    ///
    /// The call's code.
    fn close(&mut self, uid: &SessionUid) -> Result<(), CkRv>;

    /// The most objects this endpoint takes in one call; the flow's batches are the smaller
    /// of its two endpoints' and [`BATCH_OBJECTS`].
    fn max_batch(&self) -> usize {
        BATCH_OBJECTS
    }

    /// Abandons the pending negotiation this partition's Start made for `offer`, once the
    /// peer refused it (register A51): a pending negotiation has no UID to close, and left
    /// behind it would count against the partition's cap until it expires.
    ///
    /// # Errors
    ///
    /// The call's code.
    fn abandon(&mut self, offer: &[u8]) -> Result<(), CkRv>;
}

/// The legacy one-object clone between two sessions one client holds (`CA_CloneObject`,
/// protocol.md section 12).
pub trait LegacyCloner {
    /// Whether the legacy protocol can run between the two partitions (sessions, roles,
    /// policies, a common domain).
    ///
    /// # Errors
    ///
    /// The code that refuses it (`CKR_PROTOCOL_DISABLED`, `CKR_SESSION_NEGOTIATION_NO_PSK`...).
    fn check(&mut self) -> Result<(), CkRv>;

    /// Clones one object of the source onto the target.
    ///
    /// # Errors
    ///
    /// The object's code.
    fn clone_object(
        &mut self,
        object_type: CkUlong,
        handle: ObjectHandle,
    ) -> Result<ObjectHandle, CkRv>;
}

/// One object of a migration, with the layout of the vendor's `CK_OBJECT_MIGRATION_DATA`
/// (four `CK_ULONG`s in this order), so a PKCS#11 module can run the flow on its caller's
/// array in place.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationItem {
    /// `CK_CRYPTOKI_ELEMENT` or `CK_PARAM_ELEMENT`.
    pub object_type: CkUlong,
    /// The object on the source.
    pub source_handle: ObjectHandle,
    /// The clone on the target (written only for objects that clone).
    pub target_handle: ObjectHandle,
    /// The object's result.
    pub rv: CkRv,
}

impl MigrationItem {
    /// An object to migrate, not yet attempted.
    #[must_use]
    pub const fn new(object_type: CkUlong, source_handle: ObjectHandle) -> Self {
        Self {
            object_type,
            source_handle,
            target_handle: 0,
            rv: CKR_CLONE_NOT_ATTEMPTED,
        }
    }
}

/// Which protocol a migration used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// CPv4.
    Cpv4,
    /// The legacy one-object clone.
    Legacy,
}

/// `CA_MigrateKeys` (protocol.md 2.4) from `source` to `target`: the function's result, with
/// every item's `rv` and, for the objects that cloned, `target_handle` written.
///
/// `legacy` is the fallback where CPv4 is off on either partition; without one that case is
/// `CKR_PROTOCOL_DISABLED`. Per-object failures do not fail the call; without
/// `CKF_CONTINUE_ON_ERR` processing stops at the first failing object (register A23). A
/// session that expires during the migration (`CKR_SESSION_ID_EXPIRED`, or
/// `CKR_SESSION_ID_INVALID` once another call swept it) is re-negotiated once per batch
/// (register A48).
pub fn migrate_keys(
    source: &mut dyn Endpoint,
    target: &mut dyn Endpoint,
    legacy: Option<&mut dyn LegacyCloner>,
    flags: CkUlong,
    items: &mut [MigrationItem],
) -> CkRv {
    match migrate_keys_with(source, target, legacy, flags, items) {
        Ok(_) => CKR_OK,
        Err(rv) => rv,
    }
}

/// [`migrate_keys`], telling which protocol ran.
///
/// # Errors
///
/// The call-level code, as [`migrate_keys`] returns it.
pub fn migrate_keys_with(
    source: &mut dyn Endpoint,
    target: &mut dyn Endpoint,
    legacy: Option<&mut dyn LegacyCloner>,
    flags: CkUlong,
    items: &mut [MigrationItem],
) -> Result<Protocol, CkRv> {
    if items.is_empty() || flags & !CKF_CONTINUE_ON_ERR != 0 {
        return Err(CKR_ARGUMENTS_BAD);
    }
    for item in items.iter_mut() {
        item.rv = CKR_CLONE_NOT_ATTEMPTED;
    }
    let continue_on_error = flags & CKF_CONTINUE_ON_ERR != 0;
    if !(source.cpv4_enabled()? && target.cpv4_enabled()?) {
        let legacy = legacy.ok_or(CKR_PROTOCOL_DISABLED)?;
        legacy.check()?;
        migrate_legacy(legacy, continue_on_error, items);
        return Ok(Protocol::Legacy);
    }
    let batch_len = source
        .max_batch()
        .min(target.max_batch())
        .clamp(1, BATCH_OBJECTS);
    let mut session = Negotiated::new(source, target)?;
    let result = (|| {
        for batch in items.chunks_mut(batch_len) {
            let go_on = match run_batch(source, target, &mut session, flags, batch) {
                Err(rv) if session_gone(rv) => {
                    // The session's lifetime ended between two batches or inside one: a new
                    // one carries the rest. A batch is redone whole: its insert is one
                    // transaction, so an expired insert stored nothing.
                    session.close(source, target);
                    session = Negotiated::new(source, target)?;
                    run_batch(source, target, &mut session, flags, batch)?
                }
                other => other?,
            };
            if !go_on && !continue_on_error {
                break;
            }
        }
        Ok(Protocol::Cpv4)
    })();
    session.close(source, target);
    result
}

/// Whether a call's code says the flow's own session is gone: expired, or already swept
/// after its expiry by another call on the partition (the flow never closed it, so a UID
/// the device no longer knows can only be that).
fn session_gone(rv: CkRv) -> bool {
    rv == CKR_SESSION_ID_EXPIRED || rv == CKR_SESSION_ID_INVALID
}

/// A negotiated session, and whether its Confirm still has to go to the source.
struct Negotiated {
    uid: SessionUid,
    confirm: Option<Vec<u8>>,
}

impl Negotiated {
    fn new(source: &mut dyn Endpoint, target: &mut dyn Endpoint) -> Result<Self, CkRv> {
        let offer = target.start()?;
        let accepted = match source.continue_negotiation(STEP_OFFER, &offer, None) {
            Ok(accepted) => accepted,
            Err(rv) => {
                // Nothing may stay behind a refused migration (errors of the clean-up are
                // not reported; the call's own code is).
                let _ = target.abandon(&offer);
                return Err(rv);
            }
        };
        let confirmed =
            match target.continue_negotiation(STEP_ACCEPT, &accepted.output, Some(&accepted.uid)) {
                Ok(confirmed) => confirmed,
                Err(rv) => {
                    // The source holds a negotiation under this UID now, the target its Offer.
                    let _ = source.close(&accepted.uid);
                    let _ = target.abandon(&offer);
                    return Err(rv);
                }
            };
        Ok(Self {
            uid: accepted.uid,
            confirm: Some(confirmed.output),
        })
    }

    /// Closes the session on both sides; errors of the close are not reported (2.4 step 6).
    fn close(&self, source: &mut dyn Endpoint, target: &mut dyn Endpoint) {
        let _ = source.close(&self.uid);
        let _ = target.close(&self.uid);
    }
}

/// One extract and insert; `Ok(false)` when an object failed.
fn run_batch(
    source: &mut dyn Endpoint,
    target: &mut dyn Endpoint,
    session: &mut Negotiated,
    flags: CkUlong,
    batch: &mut [MigrationItem],
) -> Result<bool, CkRv> {
    let objects: Vec<(CkUlong, ObjectHandle)> = batch
        .iter()
        .map(|item| (item.object_type, item.source_handle))
        .collect();
    let input = session.confirm.as_deref().unwrap_or_default();
    let extraction = source.extract(&session.uid, input, flags, &objects)?;
    // The source is confirmed once an extract carrying the Confirm returned.
    session.confirm = None;
    if extraction.results.len() != batch.len() || extraction.blobs.len() != batch.len() {
        return Err(CKR_GENERAL_ERROR);
    }
    let mut all_ok = true;
    let mut extracted = Vec::new();
    for ((item, rv), blob) in batch
        .iter_mut()
        .zip(&extraction.results)
        .zip(&extraction.blobs)
    {
        match blob {
            Some(blob) if *rv == CKR_OK => extracted.push((item, blob)),
            _ => {
                // A result of CKR_OK without its blob is the endpoint's fault.
                item.rv = if *rv == CKR_OK {
                    CKR_GENERAL_ERROR
                } else {
                    *rv
                };
                all_ok = false;
            }
        }
    }
    if extracted.is_empty() {
        return Ok(all_ok);
    }
    let blobs: Vec<(CkUlong, CkUlong, &[u8])> = extracted
        .iter()
        .map(|(item, blob)| (item.object_type, LUNA_STORAGE_DEFAULT, blob.as_slice()))
        .collect();
    let insertion = match target.insert(&session.uid, flags, &blobs) {
        Ok(insertion) => insertion,
        Err(rv) => {
            if !session_gone(rv) {
                // One transaction: nothing of this call was stored.
                for (item, _) in extracted {
                    item.rv = rv;
                }
            }
            return Err(rv);
        }
    };
    if insertion.results.len() != extracted.len() || insertion.handles.len() != extracted.len() {
        return Err(CKR_GENERAL_ERROR);
    }
    for ((item, _), (rv, handle)) in extracted
        .into_iter()
        .zip(insertion.results.iter().zip(&insertion.handles))
    {
        item.rv = *rv;
        if *rv == CKR_OK {
            item.target_handle = *handle;
        } else {
            all_ok = false;
        }
    }
    Ok(all_ok)
}

fn migrate_legacy(
    legacy: &mut dyn LegacyCloner,
    continue_on_error: bool,
    items: &mut [MigrationItem],
) {
    for item in items {
        match legacy.clone_object(item.object_type, item.source_handle) {
            Ok(handle) => {
                item.target_handle = handle;
                item.rv = CKR_OK;
            }
            Err(rv) => {
                item.rv = rv;
                if !continue_on_error {
                    return;
                }
            }
        }
    }
}
