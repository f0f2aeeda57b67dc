//! The session table of one device: every negotiation and session of its partitions, their
//! expiry, the sweep, the caps and the per-partition tombstones. Thread-safe; time and
//! randomness come in as arguments.
//!
//! Expensive cryptography (key pairs, ECDH, signatures, chain verification) runs outside the
//! table's lock: a call reads what it needs under the lock, computes, then takes the lock again
//! and commits only if the records it read are still as they were. Of two calls racing on one
//! message, one commits and the other gets the code a replay gets.

use bytes::Bytes;
use cpv4_crypto::attest::PeerIdentity;
use cpv4_crypto::blob;
use cpv4_wire::consts::cpv4::{STEP_ACCEPT, STEP_CONFIRM, STEP_OFFER};
use cpv4_wire::{Accept, BlobHeader, Direction, ElementType, KeyBlob, ObjectEncoding, SessionUid};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::SessionError;
use crate::handshake::{self, sha256};
use crate::policy::{HsmTime, Policy};
use crate::records::{Role, Session};
use crate::store::{Kind, MemoryStore, Name, RecordRef, Store, Tombstone, Txn};

/// Identifies a partition within a device: records of one partition are invisible to others.
pub type PartitionId = u64;

/// Live negotiations (pending Offers and Accepts awaiting their Confirm) per partition.
pub const MAX_NEGOTIATIONS_PER_PARTITION: usize = 64;
/// Live negotiations per device.
pub const MAX_NEGOTIATIONS_PER_DEVICE: usize = 256;
/// Established sessions per partition.
pub const MAX_SESSIONS_PER_PARTITION: usize = 1024;
/// Established sessions per device.
pub const MAX_SESSIONS_PER_DEVICE: usize = 4096;

/// The status Continue reports (the API's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 1: call Continue on the other partition.
    More,
    /// 2: the negotiation is complete on this side.
    Done,
}

impl Status {
    /// The API value (1 or 2).
    pub fn value(self) -> u32 {
        match self {
            Status::More => 1,
            Status::Done => 2,
        }
    }
}

/// The input of a Continue call: the peer's message, its step, and the session UID when the
/// caller has one (from step 3 on).
#[derive(Debug, Clone, Copy)]
pub struct ContinueInput<'a> {
    /// The API's `inputStep`: 2 for an Offer, 3 for an Accept.
    pub step: u64,
    /// The message.
    pub message: &'a [u8],
    /// The API's `sessionUidInput`, if any.
    pub uid: Option<&'a [u8]>,
}

/// What a Continue call produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueOutput {
    /// The step of `output` (3 for an Accept, 4 for a Confirm).
    pub step: u32,
    /// The message to pass to the other partition.
    pub output: Vec<u8>,
    /// Whether Continue must be called again on the other side.
    pub status: Status,
    /// The session's UID.
    pub uid: SessionUid,
    /// The peer partition, once verified: on the initiator at step 3 (its chain was checked);
    /// `None` on the responder at step 2 (the initiator proves itself in the Confirm, and
    /// [`SessionTable::deliver_confirm`] returns it).
    pub peer: Option<PeerIdentity>,
}

/// Proof that [`SessionTable::open`] opened a blob: the only way to have its sequence number
/// accepted ([`SessionTable::accept_sequence`]). It cannot be made, copied or changed outside
/// this crate, so no caller can mark a number for which no blob was opened:
///
/// ```compile_fail
/// // Its fields are private: no caller can build one.
/// let uid = cpv4_wire::SessionUid([0; 16]);
/// let token = cpv4_session::SequenceToken { partition: 1, uid, sequence: 0 };
/// ```
///
/// ```compile_fail
/// // Nor copy one to accept a number twice.
/// fn twice(token: cpv4_session::SequenceToken) -> (cpv4_session::SequenceToken, cpv4_session::SequenceToken) {
///     (token.clone(), token)
/// }
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the sequence number is accepted only by passing the token to accept_sequence"]
pub struct SequenceToken {
    partition: PartitionId,
    uid: SessionUid,
    sequence: u64,
}

impl SequenceToken {
    /// The blob's sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// What [`SessionTable::check_live`] tells of a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    /// This partition's role in it.
    pub role: Role,
    /// The object encoding its key blobs carry (negotiated; section 3.6).
    pub encoding: ObjectEncoding,
}

/// An opened key blob. Its sequence number is not yet accepted: pass [`OpenedBlob::token`] to
/// [`SessionTable::accept_sequence`] once the object is stored. `Debug` shows the payload's
/// length only: it holds key material.
pub struct OpenedBlob {
    /// The element type of the header.
    pub element_type: ElementType,
    /// The encoded object (zeroized on drop).
    pub payload: Zeroizing<Vec<u8>>,
    /// What accepts the blob's sequence number.
    pub token: SequenceToken,
}

impl std::fmt::Debug for OpenedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedBlob")
            .field("element_type", &self.element_type)
            .field("sequence", &self.token.sequence)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// What a UID names on a partition, before the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Live(Kind),
    Expired(Kind),
    Tombstoned(Kind),
    Unknown,
}

impl Class {
    /// The code of a class that does not proceed, for a call on a session (no message).
    fn session_error(self) -> SessionError {
        match self {
            Class::Expired(Kind::Negotiation) => SessionError::NegotiationExpired,
            Class::Tombstoned(Kind::Negotiation) => SessionError::NegotiationNotStarted,
            Class::Expired(Kind::Session) => SessionError::SessionIdExpired,
            Class::Live(Kind::Negotiation) => {
                SessionError::NegotiationInvalid("the session is not confirmed yet")
            }
            Class::Tombstoned(Kind::Session) | Class::Unknown | Class::Live(Kind::Session) => {
                SessionError::SessionIdInvalid
            }
        }
    }
}

/// The engine's view of one call's records: the checks and transitions of sections 7 and 9,
/// on a [`Txn`].
struct Records<'t> {
    txn: &'t mut dyn Txn,
}

impl Records<'_> {
    fn room_for_negotiation(&self, partition: PartitionId) -> Result<(), SessionError> {
        if self.txn.counts(partition)?.negotiations >= MAX_NEGOTIATIONS_PER_PARTITION
            || self.txn.device_counts()?.negotiations >= MAX_NEGOTIATIONS_PER_DEVICE
        {
            return Err(SessionError::CapacityReached(
                "too many live negotiations; retry when one completes or expires (10 minutes)",
            ));
        }
        Ok(())
    }

    fn room_for_session(&self, partition: PartitionId) -> Result<(), SessionError> {
        if self.txn.counts(partition)?.sessions >= MAX_SESSIONS_PER_PARTITION
            || self.txn.device_counts()?.sessions >= MAX_SESSIONS_PER_DEVICE
        {
            return Err(SessionError::CapacityReached(
                "too many live sessions; close sessions that are no longer used",
            ));
        }
        Ok(())
    }

    fn bury(
        &mut self,
        partition: PartitionId,
        name: Name,
        kind: Kind,
        at: u64,
    ) -> Result<(), SessionError> {
        self.txn.bury(partition, Tombstone { name, kind, at })
    }

    /// Removes a record, wiping its keys (on drop), and leaves its tombstones.
    fn bury_record(&mut self, record: RecordRef, at: u64) -> Result<(), SessionError> {
        let Some((offer_hash, role)) = self.txn.remove(record)? else {
            return Ok(());
        };
        match record {
            RecordRef::Pending(partition, hash) => {
                self.bury(partition, Name::Offer(hash), Kind::Negotiation, at)
            }
            RecordRef::Awaiting(partition, uid) => {
                self.bury(partition, Name::Uid(uid), Kind::Negotiation, at)?;
                self.bury(partition, Name::Answered(offer_hash), Kind::Negotiation, at)
            }
            RecordRef::Session(partition, uid) => {
                self.bury(partition, Name::Uid(uid), Kind::Session, at)?;
                if role == Role::Responder {
                    self.bury(partition, Name::Answered(offer_hash), Kind::Session, at)?;
                }
                Ok(())
            }
        }
    }

    /// Removes every expired record of the device, leaving tombstones. Only expired records
    /// are touched, so the cost does not grow with the live ones.
    fn sweep(&mut self, now: u64) -> Result<(), SessionError> {
        for record in self.txn.expired(now)? {
            self.bury_record(record, now)?;
        }
        Ok(())
    }

    fn classify_uid(
        &self,
        partition: PartitionId,
        uid: SessionUid,
        now: u64,
    ) -> Result<Class, SessionError> {
        if let Some(session) = self.txn.session(partition, uid)? {
            return Ok(if session.expired(now) {
                Class::Expired(Kind::Session)
            } else {
                Class::Live(Kind::Session)
            });
        }
        if let Some(awaiting) = self.txn.awaiting(partition, uid)? {
            return Ok(if now >= awaiting.expires() {
                Class::Expired(Kind::Negotiation)
            } else {
                Class::Live(Kind::Negotiation)
            });
        }
        Ok(self
            .txn
            .tombstone(partition, Name::Uid(uid))?
            .map_or(Class::Unknown, Class::Tombstoned))
    }

    fn classify_offer(
        &self,
        partition: PartitionId,
        hash: [u8; 32],
        now: u64,
    ) -> Result<Class, SessionError> {
        if let Some(pending) = self.txn.pending(partition, &hash)? {
            return Ok(if now >= pending.expires() {
                Class::Expired(Kind::Negotiation)
            } else {
                Class::Live(Kind::Negotiation)
            });
        }
        if self
            .txn
            .uid_by_offer(partition, &hash, Role::Initiator)?
            .is_some()
        {
            return Ok(Class::Live(Kind::Session));
        }
        Ok(self
            .txn
            .tombstone(partition, Name::Offer(hash))?
            .map_or(Class::Unknown, Class::Tombstoned))
    }

    fn uid_taken(&self, partition: PartitionId, uid: SessionUid) -> Result<bool, SessionError> {
        Ok(self.txn.session(partition, uid)?.is_some()
            || self.txn.awaiting(partition, uid)?.is_some()
            || self.txn.tombstone(partition, Name::Uid(uid))?.is_some())
    }

    /// The responder's answer to an Offer it has already answered, if any: the stored Accept
    /// while its negotiation lives, a refusal once it became a session or was swept.
    fn answered(
        &self,
        partition: PartitionId,
        hash: [u8; 32],
    ) -> Result<Option<Result<ContinueOutput, SessionError>>, SessionError> {
        if let Some(uid) = self.txn.uid_by_offer(partition, &hash, Role::Responder)? {
            return Ok(Some(match self.txn.awaiting(partition, uid)? {
                Some(awaiting) => Ok(ContinueOutput {
                    step: STEP_ACCEPT,
                    output: awaiting.accept.clone(),
                    status: Status::More,
                    uid,
                    peer: None,
                }),
                None => Err(SessionError::NegotiationInvalid(
                    "the Offer was already answered and its session established",
                )),
            }));
        }
        Ok(self
            .txn
            .tombstone(partition, Name::Answered(hash))?
            .map(|_| {
                Err(SessionError::NegotiationInvalid(
                    "the Offer was already answered",
                ))
            }))
    }

    /// Classifies a UID, sweeps, and returns the live session it names.
    fn live_session(
        &mut self,
        partition: PartitionId,
        uid: SessionUid,
        now: u64,
    ) -> Result<Session, SessionError> {
        let class = self.classify_uid(partition, uid, now)?;
        self.sweep(now)?;
        match class {
            Class::Live(Kind::Session) => self
                .txn
                .session(partition, uid)?
                .ok_or(SessionError::SessionIdInvalid),
            other => Err(other.session_error()),
        }
    }

    /// Classifies the Accept's Offer and checks the caller's UID: the first checks of section
    /// 7.3.
    fn accept_preflight(
        &mut self,
        partition: PartitionId,
        now: u64,
        accept: &Result<Accept, cpv4_wire::WireError>,
        uid: SessionUid,
    ) -> Result<(), SessionError> {
        let class = match accept {
            Ok(accept) => Some(self.classify_offer(partition, accept.tbs.offer_hash, now)?),
            Err(_) => None,
        };
        self.sweep(now)?;
        let accept = accept.as_ref().map_err(Clone::clone)?;
        match class {
            Some(Class::Live(_)) => {}
            Some(Class::Expired(_)) => return Err(SessionError::NegotiationExpired),
            Some(Class::Tombstoned(_)) => return Err(SessionError::NegotiationNotStarted),
            _ => {
                return Err(SessionError::NegotiationInvalid(
                    "no negotiation made this Offer",
                ));
            }
        }
        if accept.tbs.session_uid != uid {
            return Err(SessionError::NegotiationInvalid(
                "the UID is not the Accept's",
            ));
        }
        if self.uid_taken(partition, uid)?
            || self
                .txn
                .pending(partition, &accept.tbs.offer_hash)?
                .is_none()
        {
            return Err(SessionError::SessionIdExists);
        }
        Ok(())
    }
}

/// The negotiations and sessions of one device.
///
/// Every call takes the partition it is made on, that partition's [`Policy`] and the device's
/// [`HsmTime`]: the table reads no clock and holds no configuration. Each call first
/// classifies the name it is given, then sweeps every expired record of the device, then acts,
/// as `docs/protocol.md` (sections 7 and 9) specifies. A call that fails leaves the records it
/// checked as they were (the sweep aside).
/// The table runs on any [`Store`]: [`MemoryStore`] by default (one process), or a store that
/// keeps one sealed row per record (luna-sim's database), where each call is one transaction.
#[derive(Debug, Default)]
pub struct SessionTable<S = MemoryStore> {
    pub(crate) store: S,
}

fn uid_from(bytes: &[u8]) -> Result<SessionUid, SessionError> {
    SessionUid::try_from(bytes).map_err(|_| SessionError::ArgumentsBad("a session UID is 16 bytes"))
}

fn preamble(policy: &Policy, now: HsmTime) -> Result<u64, SessionError> {
    if !policy.cpv4_enabled {
        return Err(SessionError::ProtocolDisabled);
    }
    now.get()
}

fn random_uid<R: CryptoRng + ?Sized>(rng: &mut R) -> SessionUid {
    let mut uid = [0u8; 16];
    rng.fill_bytes(&mut uid);
    SessionUid(uid)
}

impl SessionTable<MemoryStore> {
    /// An empty table in memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The size of the blob that sealing a `payload_len`-byte object gives (whatever the
    /// store).
    pub fn blob_len(payload_len: usize) -> usize {
        KeyBlob::encoded_len(blob::sealed_len(payload_len))
    }

    /// How many negotiations and sessions the device holds (pending, awaiting, established).
    pub fn counts(&self) -> (usize, usize, usize) {
        let state = self.store.lock();
        (
            state.pending.len(),
            state.awaiting.len(),
            state.sessions.len(),
        )
    }

    /// How many tombstones a partition holds.
    pub fn tombstone_count(&self, partition: PartitionId) -> usize {
        self.store
            .lock()
            .tombstones
            .get(&partition)
            .map_or(0, std::collections::VecDeque::len)
    }
}

impl<S: Store> SessionTable<S> {
    /// A table over `store`.
    pub fn with_store(store: S) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs `f` on the records in one atomic step of the store; the store's own errors and
    /// `f`'s are one result.
    fn atomically<R>(
        &self,
        f: impl FnOnce(&mut Records<'_>) -> Result<R, SessionError>,
    ) -> Result<R, SessionError> {
        self.store
            .atomically(|txn| f(&mut Records { txn }))
            .and_then(|result| result)
    }

    /// Flow step 1 (`CA_MigrationStartSessionNegotiation`), initiator: returns the Offer (step
    /// 2) and keeps a pending negotiation for it.
    pub fn start<R: CryptoRng + ?Sized>(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        rng: &mut R,
    ) -> Result<Vec<u8>, SessionError> {
        let now = preamble(policy, now)?;
        self.atomically(|records| {
            records.sweep(now)?;
            records.room_for_negotiation(partition)
        })?;
        let pending = handshake::make_offer(policy, now, rng)?;
        let offer = pending.offer.clone();
        let key = sha256(&[&handshake::offer_content(&offer)?]);
        self.atomically(|records| {
            records.sweep(now)?;
            records.room_for_negotiation(partition)?;
            records.txn.put_pending(partition, key, pending)
        })?;
        Ok(offer)
    }

    /// Flow steps 2 and 3 (`CA_MigrationContinueSessionNegotiation`): with an Offer (step 2)
    /// on the responder, returns the Accept and the new UID (status MORE); with an Accept
    /// (step 3) and its UID on the initiator, returns the Confirm (status DONE) and the
    /// verified peer.
    pub fn continue_negotiation<R: CryptoRng + ?Sized>(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        rng: &mut R,
        input: ContinueInput<'_>,
    ) -> Result<ContinueOutput, SessionError> {
        let ContinueInput {
            step: input_step,
            message: input,
            uid,
        } = input;
        // The call rules (section 2.2) come before the protocol and the clock, and a call they
        // refuse changes nothing (no sweep).
        if input.is_empty() {
            return Err(SessionError::ArgumentsBad("Continue needs an input"));
        }
        match input_step {
            step if step == u64::from(STEP_OFFER) => {
                if uid.is_some_and(|uid| !uid.is_empty()) {
                    return Err(SessionError::ArgumentsBad(
                        "no session UID exists at step 2",
                    ));
                }
                let now = preamble(policy, now)?;
                self.answer_offer(partition, policy, now, rng, input)
            }
            step if step == u64::from(STEP_ACCEPT) => {
                let given = uid
                    .filter(|uid| !uid.is_empty())
                    .map(uid_from)
                    .transpose()?;
                let now = preamble(policy, now)?;
                let uid = match given {
                    Some(uid) => uid,
                    // The vendor wrapper's step-3 call passes no UID: the Accept names the
                    // session it answers (register A49). Its signature is checked as usual.
                    None => Accept::decode(input)?.tbs.session_uid,
                };
                self.answer_accept(partition, policy, now, input, uid)
            }
            _ => Err(SessionError::NegotiationInvalid(
                "Continue takes step 2 or 3",
            )),
        }
    }

    fn answer_offer<R: CryptoRng + ?Sized>(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: u64,
        rng: &mut R,
        offer: &[u8],
    ) -> Result<ContinueOutput, SessionError> {
        // An Offer that does not decode is no replay; the checks below report it.
        let hash = handshake::offer_content(offer).map_or([0; 32], |content| sha256(&[&content]));
        let mut uid = random_uid(rng);
        // A replay is answered from the record, with no new work; a full table refuses
        // before any cryptography runs.
        let early = self.atomically(|records| {
            records.sweep(now)?;
            if let Some(answer) = records.answered(partition, hash)? {
                return Ok(Some(answer));
            }
            records.room_for_negotiation(partition)?;
            while records.uid_taken(partition, uid)? {
                uid = random_uid(rng);
            }
            Ok(None)
        })?;
        if let Some(answer) = early {
            return answer;
        }
        let (record, accept) = handshake::answer_offer(policy, now, rng, offer, uid)?;
        self.atomically(|records| {
            records.sweep(now)?;
            // Another call may have answered the same Offer meanwhile: its answer stands, ours
            // is dropped (and its keys wiped).
            if let Some(answer) = records.answered(partition, hash)? {
                return answer;
            }
            records.room_for_negotiation(partition)?;
            if records.uid_taken(partition, uid)? {
                return Err(SessionError::SessionIdExists);
            }
            records.txn.put_awaiting(partition, uid, record)?;
            Ok(ContinueOutput {
                step: STEP_ACCEPT,
                output: accept,
                status: Status::More,
                uid,
                peer: None,
            })
        })
    }

    fn answer_accept(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: u64,
        input: &[u8],
        uid: SessionUid,
    ) -> Result<ContinueOutput, SessionError> {
        let decoded = Accept::decode(input);
        let pending = self.atomically(|records| {
            records.accept_preflight(partition, now, &decoded, uid)?;
            let hash = decoded
                .as_ref()
                .map(|a| a.tbs.offer_hash)
                .map_err(Clone::clone)?;
            records
                .txn
                .pending(partition, &hash)?
                .ok_or(SessionError::SessionIdExists)
        })?;
        let accept = decoded?;
        let (session, confirm) = handshake::check_accept(policy, now, &pending, input, &accept)?;
        let peer = session.peer.clone();
        self.atomically(|records| {
            // Commit only if the pending negotiation is still there: of two calls with one
            // Accept, the second finds the session and gets the replay code.
            records.accept_preflight(partition, now, &Ok(accept.clone()), uid)?;
            records.room_for_session(partition)?;
            // A store whose steps were not serialized could have lost the race here.
            if records
                .txn
                .remove(RecordRef::Pending(partition, accept.tbs.offer_hash))?
                .is_none()
            {
                return Err(SessionError::SessionIdExists);
            }
            records.txn.put_session(partition, uid, session)
        })?;
        Ok(ContinueOutput {
            step: STEP_CONFIRM,
            output: confirm,
            status: Status::Done,
            uid,
            peer: Some(peer),
        })
    }

    /// The final negotiation output given to the first `CA_Extract` or `CA_Insert`: on the
    /// responder, the Confirm that completes its negotiation; on the initiator, optionally its
    /// own Confirm again. Anything else is refused. Returns the session's verified peer.
    pub fn deliver_confirm(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        input: &[u8],
    ) -> Result<PeerIdentity, SessionError> {
        // The call's own arguments come first (protocol.md 7.1, step 2), then the protocol
        // and the clock (steps 3 and 4).
        let uid = uid_from(uid)?;
        let now = preamble(policy, now)?;
        let awaiting = self.atomically(|records| {
            let class = records.classify_uid(partition, uid, now)?;
            records.sweep(now)?;
            match class {
                Class::Live(Kind::Negotiation) => records
                    .txn
                    .awaiting(partition, uid)?
                    .ok_or(SessionError::NegotiationNotStarted)
                    .map(Ok),
                Class::Live(Kind::Session) => {
                    let session = records
                        .txn
                        .session(partition, uid)?
                        .ok_or(SessionError::SessionIdInvalid)?;
                    Ok(Err(match session.confirm_hash {
                        Some(own) if own == sha256(&[input]) => Ok(session.peer),
                        Some(_) => Err(SessionError::NegotiationInvalid(
                            "not this session's Confirm",
                        )),
                        None => Err(SessionError::NegotiationInvalid(
                            "the session is already confirmed",
                        )),
                    }))
                }
                Class::Unknown => Err(SessionError::NegotiationInvalid("unknown session UID")),
                other => Err(other.session_error()),
            }
        })?;
        let awaiting = match awaiting {
            Ok(awaiting) => awaiting,
            Err(answer) => return answer,
        };
        let session = handshake::check_confirm(policy, now, &awaiting, uid, input)?;
        let peer = session.peer.clone();
        self.atomically(|records| {
            records.sweep(now)?;
            // Of two calls delivering one Confirm, the first commits; the second finds a
            // session.
            if records.txn.awaiting(partition, uid)?.is_none() {
                return Err(match records.classify_uid(partition, uid, now)? {
                    Class::Live(Kind::Session) => {
                        SessionError::NegotiationInvalid("the session is already confirmed")
                    }
                    other => other.session_error(),
                });
            }
            records.room_for_session(partition)?;
            if records
                .txn
                .remove(RecordRef::Awaiting(partition, uid))?
                .is_none()
            {
                return Err(SessionError::NegotiationInvalid(
                    "the session is already confirmed",
                ));
            }
            records.txn.put_session(partition, uid, session)
        })?;
        Ok(peer)
    }

    /// `CA_Extract`, one object: seals `payload` into the next key blob of the session.
    ///
    /// The responder sends direction 1 blobs once confirmed; the initiator sends direction 2
    /// blobs only after it has accepted a blob of the session.
    pub fn seal(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        element_type: ElementType,
        payload: &[u8],
    ) -> Result<Bytes, SessionError> {
        self.seal_batch(partition, policy, now, uid, &[(element_type, payload)])?
            .pop()
            .unwrap_or(Err(SessionError::BlobRefused("no blob")))
    }

    /// `CA_Extract`, many objects in one step of the store: seals each payload into the next
    /// key blob of the session, in order. A payload that does not fit a blob gets its own
    /// error and uses no sequence number; a refusal of the session (expired, unknown, the
    /// initiator's gate) is the call's error.
    pub fn seal_batch(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        payloads: &[(ElementType, &[u8])],
    ) -> Result<Vec<Result<Bytes, SessionError>>, SessionError> {
        // The call's own arguments come first (protocol.md 7.1, step 2), then the protocol
        // and the clock (steps 3 and 4).
        let uid = uid_from(uid)?;
        let now = preamble(policy, now)?;
        self.atomically(|records| {
            let mut session = records.live_session(partition, uid, now)?;
            let direction = match session.role {
                Role::Responder => Direction::ResponderToInitiator,
                Role::Initiator if session.received.ranges().is_empty() => {
                    return Err(SessionError::NegotiationInvalid(
                        "the initiator extracts only after inserting a blob of the session",
                    ));
                }
                Role::Initiator => Direction::InitiatorToResponder,
            };
            let mut out = Vec::with_capacity(payloads.len());
            for (element_type, payload) in payloads {
                out.push(seal_one(
                    &mut session,
                    direction,
                    uid,
                    *element_type,
                    payload,
                ));
            }
            records.txn.put_session(partition, uid, session)?;
            Ok(out)
        })
    }

    /// `CA_Insert`, many objects: opens each blob with one read of the session (see
    /// [`SessionTable::open`]); each result is the blob's own.
    pub fn open_batch(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        blobs: &[&[u8]],
    ) -> Result<Vec<Result<OpenedBlob, SessionError>>, SessionError> {
        // The call's own arguments come first (protocol.md 7.1, step 2), then the protocol
        // and the clock (steps 3 and 4).
        let uid = uid_from(uid)?;
        let now = preamble(policy, now)?;
        let session = self.atomically(|records| records.live_session(partition, uid, now))?;
        Ok(blobs
            .iter()
            .map(|blob| open_one(&session, partition, uid, blob))
            .collect())
    }

    /// `CA_Insert`, one object: opens a key blob of the session. The sequence number is
    /// accepted only by [`SessionTable::accept_sequence`] with the returned token, once the
    /// object is stored, so a blob whose object could not be stored may be presented again.
    pub fn open(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        blob_bytes: &[u8],
    ) -> Result<OpenedBlob, SessionError> {
        self.open_batch(partition, policy, now, uid, &[blob_bytes])?
            .pop()
            .unwrap_or(Err(SessionError::BlobRefused("no blob")))
    }

    /// Accepts the sequence number of a blob that [`SessionTable::open`] opened, once its
    /// object is stored. Refused if it already was (two concurrent insertions of one blob:
    /// only one may store its object), or if the session is no longer live.
    pub fn accept_sequence(
        &self,
        policy: &Policy,
        now: HsmTime,
        token: SequenceToken,
    ) -> Result<(), SessionError> {
        self.atomically(|records| accept_sequence_in(records.txn, policy, now, token))
    }

    /// Flow step 6 (`CA_MigrationCloseSession`): deletes a negotiation or session. A UID this
    /// partition knew (live, expired or tombstoned) closes with success; a UID never known is
    /// `CKR_SESSION_ID_INVALID` (ambiguity register A2).
    pub fn close(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
    ) -> Result<(), SessionError> {
        // The call's own arguments come first (protocol.md 7.1, step 2), then the protocol
        // and the clock (steps 3 and 4).
        let uid = uid_from(uid)?;
        let now = preamble(policy, now)?;
        self.atomically(|records| {
            let class = records.classify_uid(partition, uid, now)?;
            match class {
                Class::Live(Kind::Session) | Class::Expired(Kind::Session) => {
                    records.bury_record(RecordRef::Session(partition, uid), now)?;
                }
                Class::Live(Kind::Negotiation) | Class::Expired(Kind::Negotiation) => {
                    records.bury_record(RecordRef::Awaiting(partition, uid), now)?;
                }
                Class::Tombstoned(_) | Class::Unknown => {}
            }
            records.sweep(now)?;
            match class {
                Class::Unknown => Err(SessionError::SessionIdInvalid),
                _ => Ok(()),
            }
        })
    }

    /// Abandons the pending negotiation that Start made on this partition for `offer` (the
    /// Offer as Start returned it): the record and its keys are deleted and a tombstone is
    /// left, so an Accept for it gets `CKR_SESSION_NEGOTIATION_NOT_STARTED`. What a client
    /// does when the peer refused the Offer, so failed migrations do not fill the partition's
    /// negotiation cap (register A51). An Offer already answered (its session exists) or
    /// already gone is left as it is (`Ok`).
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_NEGOTIATION_INVALID` for an Offer that does not decode or that this
    /// partition never made; `CKR_PROTOCOL_DISABLED`, the clock codes.
    pub fn abandon(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        offer: &[u8],
    ) -> Result<(), SessionError> {
        let hash = sha256(&[&handshake::offer_content(offer)?]);
        let now = preamble(policy, now)?;
        self.atomically(|records| {
            let class = records.classify_offer(partition, hash, now)?;
            if let Class::Live(Kind::Negotiation) | Class::Expired(Kind::Negotiation) = class {
                records.bury_record(RecordRef::Pending(partition, hash), now)?;
            }
            records.sweep(now)?;
            match class {
                Class::Unknown => Err(SessionError::NegotiationInvalid(
                    "no negotiation of this partition was made for that Offer",
                )),
                _ => Ok(()),
            }
        })
    }

    /// Removes every expired record of the device (each call does this too).
    pub fn sweep(&self, now: u64) -> Result<(), SessionError> {
        self.atomically(|records| records.sweep(now))
    }

    /// Checks that `uid` names a live session of the partition (classifying it and sweeping
    /// first, as every call does): what a `CA_Extract` or `CA_Insert` without input checks
    /// before its objects. Returns the session's role and object encoding.
    pub fn check_live(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
    ) -> Result<LiveSession, SessionError> {
        // The call's own arguments come first (protocol.md 7.1, step 2), then the protocol
        // and the clock (steps 3 and 4).
        let uid = uid_from(uid)?;
        let now = preamble(policy, now)?;
        let session = self.atomically(|records| records.live_session(partition, uid, now))?;
        Ok(LiveSession {
            role: session.role,
            // Sessions are made only with an encoding of `supported::ENCODINGS`.
            encoding: ObjectEncoding::from_id(session.encoding).ok_or(SessionError::NoEncoding)?,
        })
    }
}

/// Seals one payload as the session's next blob (section 8.2, 8.3).
fn seal_one(
    session: &mut Session,
    direction: Direction,
    uid: SessionUid,
    element_type: ElementType,
    payload: &[u8],
) -> Result<Bytes, SessionError> {
    if session.next_send == u64::MAX {
        return Err(SessionError::BlobRefused(
            "the session's sequence numbers are used up",
        ));
    }
    let header = BlobHeader {
        direction,
        element_type,
        encoding: session.encoding,
        session_uid: uid,
        sequence: session.next_send,
    };
    let key = match direction {
        Direction::ResponderToInitiator => &session.keys.responder_to_initiator,
        Direction::InitiatorToResponder => &session.keys.initiator_to_responder,
    };
    let body = blob::seal(key, &header.to_bytes(), payload)
        .map_err(|_| SessionError::BlobRefused("the object does not fit a key blob"))?;
    let encoded = KeyBlob {
        header,
        body: Bytes::from(body),
    }
    .encode()?;
    // The number is used whether or not the blob reaches its peer (section 8.3).
    session.next_send += 1;
    Ok(encoded)
}

/// Opens one blob of a live session (section 8.1 to 8.3); no state changes.
fn open_one(
    session: &Session,
    partition: PartitionId,
    uid: SessionUid,
    blob_bytes: &[u8],
) -> Result<OpenedBlob, SessionError> {
    let blob = KeyBlob::decode(&Bytes::copy_from_slice(blob_bytes))?;
    let header = blob.header;
    if header.session_uid != uid {
        return Err(SessionError::BlobRefused(
            "the blob belongs to another session",
        ));
    }
    let (inbound, key) = match session.role {
        Role::Initiator => (
            Direction::ResponderToInitiator,
            &session.keys.responder_to_initiator,
        ),
        Role::Responder => (
            Direction::InitiatorToResponder,
            &session.keys.initiator_to_responder,
        ),
    };
    if header.direction != inbound {
        return Err(SessionError::BlobRefused("the blob travels the other way"));
    }
    if header.encoding != session.encoding {
        return Err(SessionError::BlobRefused("the blob has another encoding"));
    }
    if session.received.contains(header.sequence) {
        return Err(SessionError::BlobRefused(
            "the blob was already inserted (replay)",
        ));
    }
    let payload = blob::open(key, &header.to_bytes(), &blob.body)
        .map_err(|_| SessionError::BlobRefused("the blob does not unwrap"))?;
    Ok(OpenedBlob {
        element_type: header.element_type,
        payload,
        token: SequenceToken {
            partition,
            uid,
            sequence: header.sequence,
        },
    })
}

/// [`SessionTable::accept_sequence`] inside a caller's transaction of the same store, so a
/// store can accept the numbers of the objects it stores in the transaction that stores them
/// (one insert call, one transaction).
pub fn accept_sequence_in(
    txn: &mut dyn Txn,
    policy: &Policy,
    now: HsmTime,
    token: SequenceToken,
) -> Result<(), SessionError> {
    let mut batch = SequenceBatch::begin(txn, policy, now)?;
    batch.accept(token)?;
    batch.finish()
}

/// The sequence numbers of the objects one insert call stores, accepted inside the caller's
/// transaction as [`accept_sequence_in`] accepts one: the session is read at its first
/// number and written back when the batch moves to another session and at
/// [`SequenceBatch::finish`], once per run of one session's objects. Every write goes into
/// the caller's transaction: a caller that abandons the batch (an error of `accept` other than
/// a replay, or of `finish`) must roll that transaction back, as a failed call stores nothing.
pub struct SequenceBatch<'t> {
    records: Records<'t>,
    now: u64,
    /// The session being accepted into, and whether a number was accepted.
    open: Option<(PartitionId, SessionUid, Session, bool)>,
}

impl<'t> SequenceBatch<'t> {
    /// Starts accepting on `txn`.
    ///
    /// # Errors
    ///
    /// [`SessionError::ProtocolDisabled`], a clock not set.
    pub fn begin(
        txn: &'t mut dyn Txn,
        policy: &Policy,
        now: HsmTime,
    ) -> Result<Self, SessionError> {
        Ok(Self {
            records: Records { txn },
            now: preamble(policy, now)?,
            open: None,
        })
    }

    /// Accepts one blob's number: refused as a replay if the session already received it.
    ///
    /// # Errors
    ///
    /// [`SessionError::BlobRefused`] for a replay (nothing changes); the codes of a session
    /// that is no longer live.
    pub fn accept(&mut self, token: SequenceToken) -> Result<(), SessionError> {
        let same = matches!(&self.open, Some((partition, uid, ..))
            if *partition == token.partition && *uid == token.uid);
        if !same {
            self.write_open()?;
            let session = self
                .records
                .live_session(token.partition, token.uid, self.now)?;
            self.open = Some((token.partition, token.uid, session, false));
        }
        let Some((_, _, session, changed)) = self.open.as_mut() else {
            return Err(SessionError::StateCorrupt("no session open"));
        };
        if !session.received.insert(token.sequence) {
            return Err(SessionError::BlobRefused(
                "the blob was already inserted (replay)",
            ));
        }
        *changed = true;
        Ok(())
    }

    /// Writes the session back, if a number was accepted.
    ///
    /// # Errors
    ///
    /// The store's.
    pub fn finish(mut self) -> Result<(), SessionError> {
        self.write_open()
    }

    fn write_open(&mut self) -> Result<(), SessionError> {
        match self.open.take() {
            Some((partition, uid, session, true)) => {
                self.records.txn.put_session(partition, uid, session)
            }
            _ => Ok(()),
        }
    }
}
