//! Persistence of a [`SessionTable`]: a versioned binary image in which every secret (ephemeral
//! keys, session keys) is sealed under a key the caller provides, bound to the record it
//! belongs to. The simulator stores the image in its database, so processes share sessions.
//!
//! ```text
//! image      := "CPST" version:u8 pending* awaiting* sessions* tombstones*   (each list: count:u32)
//! secret     := len:u32 AES-256-KWP(k, bytes), k bound to "cpv4 state" || kind || partition || name
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::{Buf, BufMut};
use cpv4_crypto::Secret32;
use cpv4_crypto::ecdh::EphemeralSecret;
use cpv4_crypto::schedule::SessionKeys;
use cpv4_wire::{Selection, SessionUid};
use zeroize::Zeroizing;

use crate::SessionError;
use crate::records::{AwaitingConfirm, PendingOffer, Role, SeqSet, Session};
use crate::table::{Kind, Name, PartitionId, SessionTable, TableState, Tombstone};

const MAGIC: &[u8; 4] = b"CPST";
const VERSION: u8 = 1;

const PENDING: u8 = 1;
const AWAITING: u8 = 2;
const SESSION: u8 = 3;

fn binding(kind: u8, partition: PartitionId, name: &[u8]) -> Vec<u8> {
    let mut out = b"cpv4 state".to_vec();
    out.push(kind);
    out.put_u64(partition);
    out.extend_from_slice(name);
    out
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) {
        // Records hold messages of at most 32 KiB and sets of ranges: far below u32::MAX.
        self.out
            .put_u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.out.extend_from_slice(bytes);
    }

    fn count(&mut self, count: usize) {
        self.out.put_u32(u32::try_from(count).unwrap_or(u32::MAX));
    }

    fn secret(
        &mut self,
        key: &Secret32,
        binding: &[u8],
        secret: &[u8],
    ) -> Result<(), SessionError> {
        let sealed = cpv4_crypto::blob::seal(key, binding, secret)
            .map_err(|_| SessionError::StateCorrupt("a secret could not be sealed"))?;
        self.bytes(&sealed);
        Ok(())
    }
}

struct Reader<'a> {
    input: &'a [u8],
}

fn corrupt() -> SessionError {
    SessionError::StateCorrupt("truncated or malformed session state")
}

impl<'a> Reader<'a> {
    fn need(&self, len: usize) -> Result<(), SessionError> {
        if self.input.remaining() < len {
            Err(corrupt())
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> Result<u8, SessionError> {
        self.need(1)?;
        Ok(self.input.get_u8())
    }

    fn u32(&mut self) -> Result<u32, SessionError> {
        self.need(4)?;
        Ok(self.input.get_u32())
    }

    fn u64(&mut self) -> Result<u64, SessionError> {
        self.need(8)?;
        Ok(self.input.get_u64())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SessionError> {
        self.need(N)?;
        let mut out = [0u8; N];
        self.input.copy_to_slice(&mut out);
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8], SessionError> {
        let len = usize::try_from(self.u32()?).map_err(|_| corrupt())?;
        self.need(len)?;
        let (head, tail) = self.input.split_at(len);
        self.input = tail;
        Ok(head)
    }

    /// A count, bounded by what the remaining input could hold (`min_size` bytes per entry).
    fn count(&mut self, min_size: usize) -> Result<usize, SessionError> {
        let count = usize::try_from(self.u32()?).map_err(|_| corrupt())?;
        if count.saturating_mul(min_size) > self.input.remaining() {
            return Err(corrupt());
        }
        Ok(count)
    }

    fn secret(
        &mut self,
        key: &Secret32,
        binding: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SessionError> {
        let sealed = self.bytes()?;
        cpv4_crypto::blob::open(key, binding, sealed)
            .map_err(|_| SessionError::StateCorrupt("a secret does not unseal (another key?)"))
    }
}

fn put_selection(w: &mut Writer, s: &Selection) {
    for value in [s.suite, s.kdf, s.encoding, s.duration, s.chain_mechanism] {
        w.out.put_u32(value);
    }
}

fn get_selection(r: &mut Reader<'_>) -> Result<Selection, SessionError> {
    Ok(Selection {
        suite: r.u32()?,
        kdf: r.u32()?,
        encoding: r.u32()?,
        duration: r.u32()?,
        chain_mechanism: r.u32()?,
    })
}

fn put_option_hash(w: &mut Writer, hash: Option<[u8; 32]>) {
    match hash {
        Some(hash) => {
            w.out.put_u8(1);
            w.out.extend_from_slice(&hash);
        }
        None => w.out.put_u8(0),
    }
}

fn get_option_hash(r: &mut Reader<'_>) -> Result<Option<[u8; 32]>, SessionError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.array()?)),
        _ => Err(corrupt()),
    }
}

fn keys_from(bytes: &[u8]) -> Result<SessionKeys, SessionError> {
    SessionKeys::from_slice(bytes).ok_or(SessionError::StateCorrupt("session keys of a wrong size"))
}

impl SessionTable {
    /// The table as bytes, every secret sealed under `key` (AES-256-KWP bound to its record).
    pub fn to_bytes(&self, key: &Secret32) -> Result<Vec<u8>, SessionError> {
        let state = self.lock();
        let mut w = Writer {
            out: MAGIC.to_vec(),
        };
        w.out.put_u8(VERSION);

        w.count(state.pending.len());
        for ((partition, hash), pending) in &state.pending {
            w.out.put_u64(*partition);
            w.out.extend_from_slice(hash);
            w.out.put_u64(pending.created);
            w.bytes(&pending.offer);
            let scalar = pending.ephemeral.to_secret();
            w.secret(
                key,
                &binding(PENDING, *partition, hash),
                scalar.expose_secret(),
            )?;
        }

        w.count(state.awaiting.len());
        for ((partition, uid), awaiting) in &state.awaiting {
            w.out.put_u64(*partition);
            w.out.extend_from_slice(uid.as_bytes());
            w.out.put_u64(awaiting.created);
            w.bytes(&awaiting.offer);
            w.bytes(&awaiting.accept);
            put_selection(&mut w, &awaiting.selection);
            w.count(awaiting.listed_roots.len());
            awaiting
                .listed_roots
                .iter()
                .for_each(|root| w.out.extend_from_slice(root));
            let keys = awaiting.keys.to_bytes();
            w.secret(
                key,
                &binding(AWAITING, *partition, uid.as_bytes()),
                &keys[..],
            )?;
        }

        w.count(state.sessions.len());
        for ((partition, uid), session) in &state.sessions {
            w.out.put_u64(*partition);
            w.out.extend_from_slice(uid.as_bytes());
            w.out.put_u8(match session.role {
                Role::Initiator => 1,
                Role::Responder => 2,
            });
            w.out.put_u32(session.encoding);
            w.out.put_u64(session.established);
            w.out.put_u64(session.duration);
            w.out.put_u64(session.next_send);
            w.count(session.received.ranges().len());
            for (start, end) in session.received.ranges() {
                w.out.put_u64(*start);
                w.out.put_u64(*end);
            }
            put_option_hash(&mut w, session.offer_hash);
            put_option_hash(&mut w, session.confirm_hash);
            let keys = session.keys.to_bytes();
            w.secret(
                key,
                &binding(SESSION, *partition, uid.as_bytes()),
                &keys[..],
            )?;
        }

        w.count(state.tombstones.len());
        for tombstone in &state.tombstones {
            w.out.put_u64(tombstone.partition);
            match tombstone.name {
                Name::Offer(hash) => {
                    w.out.put_u8(1);
                    w.out.extend_from_slice(&hash);
                }
                Name::Uid(uid) => {
                    w.out.put_u8(2);
                    w.out.extend_from_slice(uid.as_bytes());
                }
            }
            w.out.put_u8(match tombstone.kind {
                Kind::Negotiation => 1,
                Kind::Session => 2,
            });
            w.out.put_u64(tombstone.at);
        }
        Ok(w.out)
    }

    /// Restores a table saved by [`SessionTable::to_bytes`] with the same `key`. An empty
    /// input is an empty table.
    pub fn from_bytes(bytes: &[u8], key: &Secret32) -> Result<Self, SessionError> {
        if bytes.is_empty() {
            return Ok(Self::new());
        }
        let mut r = Reader { input: bytes };
        if r.array::<4>()? != *MAGIC {
            return Err(SessionError::StateCorrupt("not a session table image"));
        }
        if r.u8()? != VERSION {
            return Err(SessionError::StateCorrupt("unknown session table version"));
        }
        let mut state = TableState::default();

        let mut pending = HashMap::new();
        for _ in 0..r.count(52)? {
            let partition = r.u64()?;
            let hash = r.array::<32>()?;
            let created = r.u64()?;
            let offer = r.bytes()?.to_vec();
            let scalar = r.secret(key, &binding(PENDING, partition, &hash))?;
            let scalar = Secret32::from_slice(&scalar).ok_or_else(corrupt)?;
            let ephemeral = EphemeralSecret::from_secret(&scalar).ok_or_else(corrupt)?;
            pending.insert(
                (partition, hash),
                PendingOffer {
                    offer,
                    ephemeral,
                    created,
                },
            );
        }
        state.pending = pending;

        for _ in 0..r.count(56)? {
            let partition = r.u64()?;
            let uid = SessionUid(r.array()?);
            let created = r.u64()?;
            let offer = r.bytes()?.to_vec();
            let accept = r.bytes()?.to_vec();
            let selection = get_selection(&mut r)?;
            let listed_roots = (0..r.count(32)?)
                .map(|_| r.array::<32>())
                .collect::<Result<Vec<_>, _>>()?;
            let keys = keys_from(&r.secret(key, &binding(AWAITING, partition, uid.as_bytes()))?)?;
            state.awaiting.insert(
                (partition, uid),
                AwaitingConfirm {
                    offer,
                    accept,
                    selection,
                    listed_roots,
                    keys,
                    created,
                },
            );
        }

        for _ in 0..r.count(60)? {
            let partition = r.u64()?;
            let uid = SessionUid(r.array()?);
            let role = match r.u8()? {
                1 => Role::Initiator,
                2 => Role::Responder,
                _ => return Err(corrupt()),
            };
            let encoding = r.u32()?;
            let established = r.u64()?;
            let duration = r.u64()?;
            let next_send = r.u64()?;
            let ranges = (0..r.count(16)?)
                .map(|_| Ok((r.u64()?, r.u64()?)))
                .collect::<Result<Vec<_>, SessionError>>()?;
            let received = SeqSet::from_ranges(ranges).ok_or_else(corrupt)?;
            let offer_hash = get_option_hash(&mut r)?;
            let confirm_hash = get_option_hash(&mut r)?;
            let keys = keys_from(&r.secret(key, &binding(SESSION, partition, uid.as_bytes()))?)?;
            state.sessions.insert(
                (partition, uid),
                Session {
                    role,
                    keys,
                    encoding,
                    established,
                    duration,
                    next_send,
                    received,
                    offer_hash,
                    confirm_hash,
                },
            );
        }

        let mut tombstones = VecDeque::new();
        for _ in 0..r.count(19)? {
            let partition = r.u64()?;
            let name = match r.u8()? {
                1 => Name::Offer(r.array()?),
                2 => Name::Uid(SessionUid(r.array()?)),
                _ => return Err(corrupt()),
            };
            let kind = match r.u8()? {
                1 => Kind::Negotiation,
                2 => Kind::Session,
                _ => return Err(corrupt()),
            };
            tombstones.push_back(Tombstone {
                partition,
                name,
                kind,
                at: r.u64()?,
            });
        }
        state.tombstones = tombstones;
        if !r.input.is_empty() {
            return Err(SessionError::StateCorrupt(
                "trailing bytes after the session table",
            ));
        }
        Ok(Self {
            state: Mutex::new(state),
        })
    }
}
