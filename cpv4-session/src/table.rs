//! The session table of one device: every negotiation and session of its partitions, their
//! expiry, the sweep and the bounded tombstones. Thread-safe; time and randomness come in as
//! arguments.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use cpv4_crypto::blob;
use cpv4_wire::consts::cpv4::{NEGOTIATION_LIFETIME_SECS, STEP_ACCEPT, STEP_CONFIRM, STEP_OFFER};
use cpv4_wire::{Accept, BlobHeader, Direction, ElementType, KeyBlob, SessionUid};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::SessionError;
use crate::handshake::{self, sha256};
use crate::policy::{HsmTime, Policy};
use crate::records::{AwaitingConfirm, PendingOffer, Role, Session};

/// Identifies a partition within a device: records of one partition are invisible to others.
pub type PartitionId = u64;

/// How many tombstones a device keeps; the oldest are dropped first.
pub const MAX_TOMBSTONES: usize = 1024;

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
}

/// An opened key blob. Its sequence number is not yet accepted: call
/// [`SessionTable::accept_sequence`] once the object is stored. `Debug` shows the payload's
/// length only: it holds key material.
pub struct OpenedBlob {
    /// The element type of the header.
    pub element_type: ElementType,
    /// The blob's sequence number.
    pub sequence: u64,
    /// The encoded object (zeroized on drop).
    pub payload: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for OpenedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedBlob")
            .field("element_type", &self.element_type)
            .field("sequence", &self.sequence)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    Offer([u8; 32]),
    Uid(SessionUid),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Negotiation,
    Session,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tombstone {
    pub(crate) partition: PartitionId,
    pub(crate) name: Name,
    pub(crate) kind: Kind,
    pub(crate) at: u64,
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

#[derive(Debug, Default)]
pub(crate) struct TableState {
    pub(crate) pending: HashMap<(PartitionId, [u8; 32]), PendingOffer>,
    pub(crate) awaiting: HashMap<(PartitionId, SessionUid), AwaitingConfirm>,
    pub(crate) sessions: HashMap<(PartitionId, SessionUid), Session>,
    pub(crate) tombstones: VecDeque<Tombstone>,
}

fn negotiation_expired(created: u64, now: u64) -> bool {
    now.saturating_sub(created) >= NEGOTIATION_LIFETIME_SECS
}

impl TableState {
    fn tombstone(&self, partition: PartitionId, name: Name) -> Option<Kind> {
        self.tombstones
            .iter()
            .rev()
            .find(|t| t.partition == partition && t.name == name)
            .map(|t| t.kind)
    }

    fn bury(&mut self, partition: PartitionId, name: Name, kind: Kind, at: u64) {
        self.tombstones.push_back(Tombstone {
            partition,
            name,
            kind,
            at,
        });
        while self.tombstones.len() > MAX_TOMBSTONES {
            self.tombstones.pop_front();
        }
    }

    fn classify_uid(&self, partition: PartitionId, uid: SessionUid, now: u64) -> Class {
        let key = (partition, uid);
        if let Some(session) = self.sessions.get(&key) {
            return if session.expired(now) {
                Class::Expired(Kind::Session)
            } else {
                Class::Live(Kind::Session)
            };
        }
        if let Some(awaiting) = self.awaiting.get(&key) {
            return if negotiation_expired(awaiting.created, now) {
                Class::Expired(Kind::Negotiation)
            } else {
                Class::Live(Kind::Negotiation)
            };
        }
        self.tombstone(partition, Name::Uid(uid))
            .map_or(Class::Unknown, Class::Tombstoned)
    }

    fn classify_offer(&self, partition: PartitionId, hash: [u8; 32], now: u64) -> Class {
        if let Some(pending) = self.pending.get(&(partition, hash)) {
            return if negotiation_expired(pending.created, now) {
                Class::Expired(Kind::Negotiation)
            } else {
                Class::Live(Kind::Negotiation)
            };
        }
        let answered = self
            .sessions
            .iter()
            .any(|((p, _), session)| *p == partition && session.offer_hash == Some(hash));
        if answered {
            return Class::Live(Kind::Session);
        }
        self.tombstone(partition, Name::Offer(hash))
            .map_or(Class::Unknown, Class::Tombstoned)
    }

    /// Removes every expired record of the device, leaving tombstones.
    pub(crate) fn sweep(&mut self, now: u64) {
        let mut buried = Vec::new();
        self.pending.retain(|(partition, hash), pending| {
            let keep = !negotiation_expired(pending.created, now);
            if !keep {
                buried.push((*partition, Name::Offer(*hash), Kind::Negotiation));
            }
            keep
        });
        self.awaiting.retain(|(partition, uid), awaiting| {
            let keep = !negotiation_expired(awaiting.created, now);
            if !keep {
                buried.push((*partition, Name::Uid(*uid), Kind::Negotiation));
            }
            keep
        });
        self.sessions.retain(|(partition, uid), session| {
            let keep = !session.expired(now);
            if !keep {
                buried.push((*partition, Name::Uid(*uid), Kind::Session));
            }
            keep
        });
        for (partition, name, kind) in buried {
            self.bury(partition, name, kind, now);
        }
    }

    fn uid_taken(&self, partition: PartitionId, uid: SessionUid) -> bool {
        let key = (partition, uid);
        self.sessions.contains_key(&key)
            || self.awaiting.contains_key(&key)
            || self.tombstone(partition, Name::Uid(uid)).is_some()
    }
}

/// The negotiations and sessions of one device.
///
/// Every call takes the partition it is made on, that partition's [`Policy`] and the device's
/// [`HsmTime`]: the table reads no clock and holds no configuration. Each call first
/// classifies the name it is given, then sweeps every expired record of the device, then acts,
/// as `docs/protocol.md` (sections 7 and 9) specifies. A call that fails leaves the records it
/// checked as they were (the sweep aside).
#[derive(Debug, Default)]
pub struct SessionTable {
    pub(crate) state: Mutex<TableState>,
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

impl SessionTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TableState> {
        // A panic while the lock is held cannot leave a record half-changed (records are
        // replaced whole), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let mut state = self.lock();
        state.sweep(now);
        let pending = handshake::make_offer(policy, now, rng)?;
        let offer = pending.offer.clone();
        state
            .pending
            .insert((partition, sha256(&[&offer])), pending);
        Ok(offer)
    }

    /// Flow steps 2 and 3 (`CA_MigrationContinueSessionNegotiation`): with an Offer (step 2)
    /// on the responder, returns the Accept and the new UID (status MORE); with an Accept
    /// (step 3) and its UID on the initiator, returns the Confirm (status DONE).
    pub fn continue_negotiation<R: CryptoRng + ?Sized>(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        rng: &mut R,
        input: ContinueInput<'_>,
    ) -> Result<ContinueOutput, SessionError> {
        let now = preamble(policy, now)?;
        let ContinueInput {
            step: input_step,
            message: input,
            uid,
        } = input;
        match input_step {
            step if step == u64::from(STEP_OFFER) => {
                if uid.is_some_and(|uid| !uid.is_empty()) {
                    return Err(SessionError::ArgumentsBad(
                        "no session UID exists at step 2",
                    ));
                }
                self.answer_offer(partition, policy, now, rng, input)
            }
            step if step == u64::from(STEP_ACCEPT) => {
                let uid = uid_from(uid.unwrap_or_default())?;
                self.answer_accept(partition, policy, now, input, uid)
            }
            _ => {
                self.lock().sweep(now);
                Err(SessionError::NegotiationInvalid(
                    "Continue takes step 2 or 3",
                ))
            }
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
        let mut state = self.lock();
        state.sweep(now);
        let mut uid = random_uid(rng);
        while state.uid_taken(partition, uid) {
            uid = random_uid(rng);
        }
        let (record, accept) = handshake::answer_offer(policy, now, rng, offer, uid)?;
        state.awaiting.insert((partition, uid), record);
        Ok(ContinueOutput {
            step: STEP_ACCEPT,
            output: accept,
            status: Status::More,
            uid,
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
        let mut state = self.lock();
        let accept = Accept::decode(input);
        let class = accept
            .as_ref()
            .ok()
            .map(|accept| state.classify_offer(partition, accept.tbs.offer_hash, now));
        state.sweep(now);
        let accept = accept?;
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
        if state.uid_taken(partition, uid) {
            return Err(SessionError::SessionIdExists);
        }
        let key = (partition, accept.tbs.offer_hash);
        let pending = state
            .pending
            .get(&key)
            .ok_or(SessionError::SessionIdExists)?;
        let (session, confirm) = handshake::check_accept(policy, now, pending, input, &accept)?;
        state.pending.remove(&key);
        state.sessions.insert((partition, uid), session);
        Ok(ContinueOutput {
            step: STEP_CONFIRM,
            output: confirm,
            status: Status::Done,
            uid,
        })
    }

    /// The final negotiation output given to the first `CA_Extract` or `CA_Insert`: on the
    /// responder, the Confirm that completes its negotiation; on the initiator, optionally its
    /// own Confirm again. Anything else is refused.
    pub fn deliver_confirm(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        input: &[u8],
    ) -> Result<(), SessionError> {
        let now = preamble(policy, now)?;
        let uid = uid_from(uid)?;
        let mut state = self.lock();
        let class = state.classify_uid(partition, uid, now);
        state.sweep(now);
        let key = (partition, uid);
        match class {
            Class::Live(Kind::Negotiation) => {
                let awaiting = state
                    .awaiting
                    .get(&key)
                    .ok_or(SessionError::NegotiationNotStarted)?;
                let session = handshake::check_confirm(policy, now, awaiting, uid, input)?;
                state.awaiting.remove(&key);
                state.sessions.insert(key, session);
                Ok(())
            }
            Class::Live(Kind::Session) => {
                let session = state
                    .sessions
                    .get(&key)
                    .ok_or(SessionError::SessionIdInvalid)?;
                match session.confirm_hash {
                    Some(own) if own == sha256(&[input]) => Ok(()),
                    Some(_) => Err(SessionError::NegotiationInvalid(
                        "not this session's Confirm",
                    )),
                    None => Err(SessionError::NegotiationInvalid(
                        "the session is already confirmed",
                    )),
                }
            }
            Class::Unknown => Err(SessionError::NegotiationInvalid("unknown session UID")),
            other => Err(other.session_error()),
        }
    }

    fn live_session(
        state: &mut TableState,
        partition: PartitionId,
        uid: SessionUid,
        now: u64,
    ) -> Result<&mut Session, SessionError> {
        let class = state.classify_uid(partition, uid, now);
        state.sweep(now);
        match class {
            Class::Live(Kind::Session) => state
                .sessions
                .get_mut(&(partition, uid))
                .ok_or(SessionError::SessionIdInvalid),
            other => Err(other.session_error()),
        }
    }

    /// The size of the blob that sealing a `payload_len`-byte object gives.
    pub fn blob_len(payload_len: usize) -> usize {
        KeyBlob::encoded_len(blob::sealed_len(payload_len))
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
        let now = preamble(policy, now)?;
        let uid = uid_from(uid)?;
        let mut state = self.lock();
        let session = Self::live_session(&mut state, partition, uid, now)?;
        let direction = match session.role {
            Role::Responder => Direction::ResponderToInitiator,
            Role::Initiator if session.received.ranges().is_empty() => {
                return Err(SessionError::NegotiationInvalid(
                    "the initiator extracts only after inserting a blob of the session",
                ));
            }
            Role::Initiator => Direction::InitiatorToResponder,
        };
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
        session.next_send += 1;
        Ok(encoded)
    }

    /// `CA_Insert`, one object: opens a key blob of the session. The sequence number is
    /// accepted only by [`SessionTable::accept_sequence`], once the object is stored, so a blob
    /// whose object could not be stored may be presented again.
    pub fn open(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        blob_bytes: &[u8],
    ) -> Result<OpenedBlob, SessionError> {
        let now = preamble(policy, now)?;
        let uid = uid_from(uid)?;
        let mut state = self.lock();
        let session = Self::live_session(&mut state, partition, uid, now)?;
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
            sequence: header.sequence,
            payload,
        })
    }

    /// Marks a blob's sequence number accepted, once its object is stored. Refused if it
    /// already was (two concurrent insertions of one blob: only one may store its object).
    pub fn accept_sequence(
        &self,
        partition: PartitionId,
        policy: &Policy,
        now: HsmTime,
        uid: &[u8],
        sequence: u64,
    ) -> Result<(), SessionError> {
        let now = preamble(policy, now)?;
        let uid = uid_from(uid)?;
        let mut state = self.lock();
        let session = Self::live_session(&mut state, partition, uid, now)?;
        if session.received.insert(sequence) {
            Ok(())
        } else {
            Err(SessionError::BlobRefused(
                "the blob was already inserted (replay)",
            ))
        }
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
        let now = preamble(policy, now)?;
        let uid = uid_from(uid)?;
        let mut state = self.lock();
        let class = state.classify_uid(partition, uid, now);
        let key = (partition, uid);
        let removed = match class {
            Class::Live(Kind::Session) | Class::Expired(Kind::Session) => {
                state.sessions.remove(&key).map(|_| Kind::Session)
            }
            Class::Live(Kind::Negotiation) | Class::Expired(Kind::Negotiation) => {
                state.awaiting.remove(&key).map(|_| Kind::Negotiation)
            }
            Class::Tombstoned(_) | Class::Unknown => None,
        };
        if let Some(kind) = removed {
            state.bury(partition, Name::Uid(uid), kind, now);
        }
        state.sweep(now);
        match class {
            Class::Unknown => Err(SessionError::SessionIdInvalid),
            _ => Ok(()),
        }
    }

    /// Removes every expired record of the device (each call does this too).
    pub fn sweep(&self, now: u64) {
        self.lock().sweep(now);
    }

    /// How many negotiations and sessions the device holds (pending, awaiting, established).
    pub fn counts(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (
            state.pending.len(),
            state.awaiting.len(),
            state.sessions.len(),
        )
    }
}
