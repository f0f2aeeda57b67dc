//! The relay: the low-level calls of one partition carried over a byte stream, so the shared
//! flow ([`migrate_keys_with`](crate::migrate_keys_with)) can run between partitions no
//! single host reaches (the `cpv4` command's `--to-remote`, over `ssh`'s stdin and stdout).
//!
//! A frame is `version (1) | kind (1) | length (4, big-endian) | header CRC-32 (4) | payload |
//! CRC-32 (4)`: the first CRC over the six bytes before it, so a damaged length is caught
//! before the reader waits for a payload that never comes; the second over everything before
//! it. A stream damaged on its way is noticed rather than misread (the key blobs inside are
//! sealed anyway; the CRCs guard the codes and handles around them; an attacker on the stream
//! is kept out by the transport, such as ssh). The
//! payload is a sequence of fields: integers as 8 bytes big-endian, byte strings and lists as
//! a 4-byte length and their contents. Decoding is strict: a wrong version, kind or CRC, a
//! length past [`MAX_FRAME`] or past the payload, and trailing bytes are all refused.
//!
//! [`RelayClient`] is an [`Endpoint`] whose calls are requests to the peer; [`serve`] answers
//! them with a local endpoint. Neither side ever holds the other's HSM session.
//!
//! ```
//! use cpv4_migrate::relay::{Request, decode_request};
//!
//! let frame = Request::Start.encode();
//! assert_eq!(decode_request(&frame).unwrap(), Request::Start);
//! assert!(decode_request(&frame[..frame.len() - 1]).is_err());
//! ```

use std::io::{Read, Write};

use cpv4_wire::consts::{CKR_ARGUMENTS_BAD, CKR_DEVICE_REMOVED, CKR_OK, CkRv, CkUlong};

use crate::{Continued, Endpoint, Extraction, Insertion, ObjectHandle, SessionUid};

/// The relay's version, the first byte of every frame.
pub const RELAY_VERSION: u8 = 1;

/// The largest payload: a full insert batch ([`BATCH_OBJECTS`]) of the largest blobs, with
/// room to spare.
pub const MAX_FRAME: usize = 24 * 1024 * 1024;

/// Most objects of one relayed call: a batch of the largest blobs fits one frame.
pub const BATCH_OBJECTS: usize = 256;

/// Most OUIDs of one Lookup: the command line's largest batch.
pub const MAX_LOOKUP: usize = 100_000;

const _: () = assert!(
    BATCH_OBJECTS * (cpv4_wire::limits::MAX_BLOB_SIZE + 64) < MAX_FRAME,
    "a relayed batch must fit a frame"
);

/// A request to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Who are you: the peer answers [`Response::Hello`].
    Hello,
    /// [`Endpoint::cpv4_enabled`].
    Enabled,
    /// [`Endpoint::start`].
    Start,
    /// [`Endpoint::continue_negotiation`].
    Continue {
        /// The input step.
        step: CkUlong,
        /// The peer's message.
        input: Vec<u8>,
        /// The session UID, where the step has one.
        uid: Option<SessionUid>,
    },
    /// [`Endpoint::extract`].
    Extract {
        /// The session.
        uid: SessionUid,
        /// The Confirm on the first call, else empty.
        input: Vec<u8>,
        /// `CKF_CONTINUE_ON_ERR` or 0.
        flags: CkUlong,
        /// `(objectType, handle)` pairs.
        objects: Vec<(CkUlong, ObjectHandle)>,
    },
    /// [`Endpoint::insert`].
    Insert {
        /// The session.
        uid: SessionUid,
        /// `CKF_CONTINUE_ON_ERR` or 0.
        flags: CkUlong,
        /// `(objectType, storageType, blob)`.
        blobs: Vec<(CkUlong, CkUlong, Vec<u8>)>,
    },
    /// [`Endpoint::close`].
    Close {
        /// The session.
        uid: SessionUid,
    },
    /// [`Endpoint::abandon`].
    Abandon {
        /// The Offer.
        offer: Vec<u8>,
    },
    /// The peer's objects with these `CKA_OUID`s: a handle each, 0 where absent.
    Lookup {
        /// The OUIDs.
        ouids: Vec<Vec<u8>>,
    },
}

/// The peer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The call failed with this code.
    Failed(CkRv),
    /// The answer to [`Request::Hello`]: the partition's label and serial.
    Hello {
        /// The token label.
        label: String,
        /// The token serial.
        serial: String,
    },
    /// Done, nothing to return.
    Done,
    /// A yes or no.
    Flag(bool),
    /// A message (the Offer).
    Message(Vec<u8>),
    /// A Continue's output.
    Continued(Continued),
    /// An extract's output.
    Extraction(Extraction),
    /// An insert's output.
    Insertion(Insertion),
    /// Handles (of a lookup).
    Handles(Vec<ObjectHandle>),
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum RelayError {
    /// The stream failed.
    Io(std::io::Error),
    /// The stream ended at a frame boundary: the peer is gone.
    Closed,
    /// The stream ended inside a frame.
    Truncated,
    /// A frame of another relay version.
    Version(u8),
    /// A frame kind this version does not have, or not expected here.
    Kind(u8),
    /// A frame longer than [`MAX_FRAME`].
    TooLarge(usize),
    /// A payload that is not what its kind says.
    Malformed(&'static str),
    /// A frame whose CRC does not match: damaged on the way.
    Checksum,
    /// A well-formed answer that does not answer the request (of another kind, or of
    /// another number of objects); its kind.
    Mismatch(u8),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "the relay stream failed: {e}"),
            Self::Closed => f.write_str("the relay peer closed the stream"),
            Self::Truncated => f.write_str("the relay stream ended inside a frame"),
            Self::Version(v) => write!(f, "a relay frame of version {v}, not {RELAY_VERSION}"),
            Self::Kind(k) => write!(f, "a relay frame of unexpected kind {k}"),
            Self::TooLarge(n) => write!(f, "a relay frame of {n} bytes, over {MAX_FRAME}"),
            Self::Malformed(what) => write!(f, "a malformed relay frame: {what}"),
            Self::Checksum => f.write_str("a relay frame failed its CRC: the stream was damaged"),
            Self::Mismatch(k) => write!(
                f,
                "the peer answered with a frame of kind 0x{k:02x}, which does not answer the request"
            ),
        }
    }
}

impl std::error::Error for RelayError {}

struct Writer {
    buf: Vec<u8>,
}

/// Bytes before the payload: version, kind, length and the header's CRC.
const HEADER: usize = 10;

impl Writer {
    fn new(kind: u8) -> Self {
        Self {
            buf: vec![RELAY_VERSION, kind, 0, 0, 0, 0, 0, 0, 0, 0],
        }
    }

    // CK_ULONG is 32 bits on some platforms: the wire always carries 64.
    #[allow(clippy::useless_conversion)]
    fn ulong(&mut self, value: CkUlong) -> &mut Self {
        self.buf.extend_from_slice(&u64::from(value).to_be_bytes());
        self
    }

    fn len(&mut self, len: usize) -> &mut Self {
        // Frames never reach 4 GiB: MAX_FRAME bounds everything a caller can send.
        self.buf
            .extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        self
    }

    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.len(bytes.len());
        self.buf.extend_from_slice(bytes);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len() - HEADER).unwrap_or(u32::MAX);
        if let Some(field) = self.buf.get_mut(2..6) {
            field.copy_from_slice(&len.to_be_bytes());
        }
        let header_crc = crc32fast::hash(self.buf.get(..6).unwrap_or_default());
        if let Some(field) = self.buf.get_mut(6..HEADER) {
            field.copy_from_slice(&header_crc.to_be_bytes());
        }
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_be_bytes());
        self.buf
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RelayError> {
        if self.rest.len() < n {
            return Err(RelayError::Malformed("a field runs past the payload"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn ulong(&mut self) -> Result<CkUlong, RelayError> {
        let bytes: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| RelayError::Malformed("an integer"))?;
        CkUlong::try_from(u64::from_be_bytes(bytes))
            .map_err(|_| RelayError::Malformed("an integer too large for CK_ULONG"))
    }

    fn len(&mut self) -> Result<usize, RelayError> {
        let bytes: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| RelayError::Malformed("a length"))?;
        let len = usize::try_from(u32::from_be_bytes(bytes)).unwrap_or(usize::MAX);
        // Every element takes at least one byte: a count past the payload is a lie.
        if len > self.rest.len() {
            return Err(RelayError::Malformed("a length past the payload"));
        }
        Ok(len)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, RelayError> {
        let len = self.len()?;
        Ok(self.take(len)?.to_vec())
    }

    fn uid(&mut self) -> Result<SessionUid, RelayError> {
        let bytes: [u8; 16] = self
            .take(16)?
            .try_into()
            .map_err(|_| RelayError::Malformed("a session UID"))?;
        Ok(SessionUid(bytes))
    }

    fn flag(&mut self) -> Result<bool, RelayError> {
        match self.take(1)? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(RelayError::Malformed("a flag other than 0 or 1")),
        }
    }

    fn text(&mut self) -> Result<String, RelayError> {
        String::from_utf8(self.bytes()?).map_err(|_| RelayError::Malformed("text not UTF-8"))
    }

    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, RelayError>,
    ) -> Result<Vec<T>, RelayError> {
        let count = self.len()?;
        (0..count).map(|_| item(self)).collect()
    }

    fn end(&self) -> Result<(), RelayError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(RelayError::Malformed("trailing bytes"))
        }
    }
}

/// Checks a frame header: the version, the header's CRC and the length bound; the payload
/// length.
fn header(header: &[u8; HEADER]) -> Result<usize, RelayError> {
    let [version, _, a, b, c, d, e, f, g, h] = *header;
    if crc32fast::hash(&header[..6]) != u32::from_be_bytes([e, f, g, h]) {
        return Err(RelayError::Checksum);
    }
    if version != RELAY_VERSION {
        return Err(RelayError::Version(version));
    }
    let len = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(RelayError::TooLarge(len));
    }
    Ok(len)
}

/// Splits a whole frame into its kind and payload.
fn frame(bytes: &[u8]) -> Result<(u8, &[u8]), RelayError> {
    let Some((head, rest)) = bytes.split_first_chunk::<HEADER>() else {
        return Err(RelayError::Truncated);
    };
    let len = header(head)?;
    let Some((payload, crc)) = rest.split_last_chunk::<4>() else {
        return Err(RelayError::Truncated);
    };
    match payload.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(RelayError::Truncated),
        std::cmp::Ordering::Greater => Err(RelayError::Malformed("bytes after the frame")),
        std::cmp::Ordering::Equal => {
            let covered = bytes.get(..bytes.len() - 4).unwrap_or_default();
            if crc32fast::hash(covered) != u32::from_be_bytes(*crc) {
                return Err(RelayError::Checksum);
            }
            Ok((head[1], payload))
        }
    }
}

mod kind {
    pub const HELLO: u8 = 1;
    pub const ENABLED: u8 = 2;
    pub const START: u8 = 3;
    pub const CONTINUE: u8 = 4;
    pub const EXTRACT: u8 = 5;
    pub const INSERT: u8 = 6;
    pub const CLOSE: u8 = 7;
    pub const ABANDON: u8 = 8;
    pub const LOOKUP: u8 = 9;
    pub const FAILED: u8 = 0x80;
    pub const R_HELLO: u8 = 0x81;
    pub const DONE: u8 = 0x82;
    pub const FLAG: u8 = 0x83;
    pub const MESSAGE: u8 = 0x84;
    pub const CONTINUED: u8 = 0x85;
    pub const EXTRACTION: u8 = 0x86;
    pub const INSERTION: u8 = 0x87;
    pub const HANDLES: u8 = 0x88;
}

impl Request {
    /// The request as one frame.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Hello => Writer::new(kind::HELLO).finish(),
            Self::Enabled => Writer::new(kind::ENABLED).finish(),
            Self::Start => Writer::new(kind::START).finish(),
            Self::Continue { step, input, uid } => {
                let mut w = Writer::new(kind::CONTINUE);
                w.ulong(*step).bytes(input);
                match uid {
                    Some(uid) => w.bytes(&uid.0),
                    None => w.bytes(&[]),
                };
                w.finish()
            }
            Self::Extract {
                uid,
                input,
                flags,
                objects,
            } => {
                let mut w = Writer::new(kind::EXTRACT);
                w.buf.extend_from_slice(&uid.0);
                w.bytes(input).ulong(*flags).len(objects.len());
                for (object_type, handle) in objects {
                    w.ulong(*object_type).ulong(*handle);
                }
                w.finish()
            }
            Self::Insert { uid, flags, blobs } => {
                let mut w = Writer::new(kind::INSERT);
                w.buf.extend_from_slice(&uid.0);
                w.ulong(*flags).len(blobs.len());
                for (object_type, storage, blob) in blobs {
                    w.ulong(*object_type).ulong(*storage).bytes(blob);
                }
                w.finish()
            }
            Self::Close { uid } => {
                let mut w = Writer::new(kind::CLOSE);
                w.buf.extend_from_slice(&uid.0);
                w.finish()
            }
            Self::Abandon { offer } => {
                let mut w = Writer::new(kind::ABANDON);
                w.bytes(offer);
                w.finish()
            }
            Self::Lookup { ouids } => {
                let mut w = Writer::new(kind::LOOKUP);
                w.len(ouids.len());
                for ouid in ouids {
                    w.bytes(ouid);
                }
                w.finish()
            }
        }
    }
}

/// Decodes one whole request frame.
///
/// # Errors
///
/// [`RelayError`] for anything but exactly one well-formed request.
pub fn decode_request(bytes: &[u8]) -> Result<Request, RelayError> {
    let (kind, payload) = frame(bytes)?;
    let mut r = Reader { rest: payload };
    let request = match kind {
        kind::HELLO => Request::Hello,
        kind::ENABLED => Request::Enabled,
        kind::START => Request::Start,
        kind::CONTINUE => {
            let step = r.ulong()?;
            let input = r.bytes()?;
            let uid = match r.bytes()?.as_slice() {
                [] => None,
                bytes => Some(SessionUid(bytes.try_into().map_err(|_| {
                    RelayError::Malformed("a session UID of another size")
                })?)),
            };
            Request::Continue { step, input, uid }
        }
        kind::EXTRACT => Request::Extract {
            uid: r.uid()?,
            input: r.bytes()?,
            flags: r.ulong()?,
            objects: r.list(|r| Ok((r.ulong()?, r.ulong()?)))?,
        },
        kind::INSERT => Request::Insert {
            uid: r.uid()?,
            flags: r.ulong()?,
            blobs: r.list(|r| Ok((r.ulong()?, r.ulong()?, r.bytes()?)))?,
        },
        kind::CLOSE => Request::Close { uid: r.uid()? },
        kind::ABANDON => Request::Abandon { offer: r.bytes()? },
        kind::LOOKUP => Request::Lookup {
            ouids: r.list(Reader::bytes)?,
        },
        other => return Err(RelayError::Kind(other)),
    };
    r.end()?;
    Ok(request)
}

impl Response {
    /// The frame kind of this response.
    #[must_use]
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Failed(_) => kind::FAILED,
            Self::Hello { .. } => kind::R_HELLO,
            Self::Done => kind::DONE,
            Self::Flag(_) => kind::FLAG,
            Self::Message(_) => kind::MESSAGE,
            Self::Continued(_) => kind::CONTINUED,
            Self::Extraction(_) => kind::EXTRACTION,
            Self::Insertion(_) => kind::INSERTION,
            Self::Handles(_) => kind::HANDLES,
        }
    }

    /// The response as one frame.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w;
        match self {
            Self::Failed(rv) => {
                w = Writer::new(kind::FAILED);
                w.ulong(*rv);
            }
            Self::Hello { label, serial } => {
                w = Writer::new(kind::R_HELLO);
                w.bytes(label.as_bytes()).bytes(serial.as_bytes());
            }
            Self::Done => w = Writer::new(kind::DONE),
            Self::Flag(flag) => {
                w = Writer::new(kind::FLAG);
                w.buf.push(u8::from(*flag));
            }
            Self::Message(message) => {
                w = Writer::new(kind::MESSAGE);
                w.bytes(message);
            }
            Self::Continued(c) => {
                w = Writer::new(kind::CONTINUED);
                w.ulong(c.step).bytes(&c.output);
                w.buf.extend_from_slice(&c.uid.0);
            }
            Self::Extraction(e) => {
                w = Writer::new(kind::EXTRACTION);
                w.len(e.results.len());
                for (rv, blob) in e.results.iter().zip(&e.blobs) {
                    w.ulong(*rv);
                    match blob {
                        Some(blob) => {
                            w.buf.push(1);
                            w.bytes(blob);
                        }
                        None => w.buf.push(0),
                    }
                }
            }
            Self::Insertion(i) => {
                w = Writer::new(kind::INSERTION);
                w.len(i.results.len());
                for (rv, handle) in i.results.iter().zip(&i.handles) {
                    w.ulong(*rv).ulong(*handle);
                }
            }
            Self::Handles(handles) => {
                w = Writer::new(kind::HANDLES);
                w.len(handles.len());
                for handle in handles {
                    w.ulong(*handle);
                }
            }
        }
        w.finish()
    }
}

/// Decodes one whole response frame.
///
/// # Errors
///
/// [`RelayError`] for anything but exactly one well-formed response.
pub fn decode_response(bytes: &[u8]) -> Result<Response, RelayError> {
    let (kind, payload) = frame(bytes)?;
    let mut r = Reader { rest: payload };
    let response = match kind {
        kind::FAILED => Response::Failed(r.ulong()?),
        kind::R_HELLO => Response::Hello {
            label: r.text()?,
            serial: r.text()?,
        },
        kind::DONE => Response::Done,
        kind::FLAG => Response::Flag(r.flag()?),
        kind::MESSAGE => Response::Message(r.bytes()?),
        kind::CONTINUED => Response::Continued(Continued {
            step: r.ulong()?,
            output: r.bytes()?,
            uid: r.uid()?,
        }),
        kind::EXTRACTION => {
            let pairs = r.list(|r| {
                let rv = r.ulong()?;
                let blob = if r.flag()? { Some(r.bytes()?) } else { None };
                Ok((rv, blob))
            })?;
            let (results, blobs) = pairs.into_iter().unzip();
            Response::Extraction(Extraction { results, blobs })
        }
        kind::INSERTION => {
            let pairs = r.list(|r| Ok((r.ulong()?, r.ulong()?)))?;
            let (results, handles) = pairs.into_iter().unzip();
            Response::Insertion(Insertion { results, handles })
        }
        kind::HANDLES => Response::Handles(r.list(Reader::ulong)?),
        other => return Err(RelayError::Kind(other)),
    };
    r.end()?;
    Ok(response)
}

/// Reads one frame from `stream`: `Ok(None)` at a clean end of the stream.
///
/// # Errors
///
/// [`RelayError::Truncated`] for a stream that ends inside a frame, [`RelayError::TooLarge`]
/// before reading an oversized payload, [`RelayError::Io`].
pub fn read_frame(stream: &mut dyn Read) -> Result<Option<Vec<u8>>, RelayError> {
    let mut head = [0u8; HEADER];
    let mut filled = 0;
    while filled < head.len() {
        let n = stream
            .read(head.get_mut(filled..).unwrap_or_default())
            .map_err(RelayError::Io)?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(RelayError::Truncated)
            };
        }
        filled += n;
    }
    let len = header(&head)?;
    let mut bytes = head.to_vec();
    bytes.resize(HEADER + len + 4, 0);
    stream
        .read_exact(bytes.get_mut(HEADER..).unwrap_or_default())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => RelayError::Truncated,
            _ => RelayError::Io(e),
        })?;
    Ok(Some(bytes))
}

/// An [`Endpoint`] on the far side of a stream. A transport failure fails the call with
/// `CKR_DEVICE_REMOVED` and is kept in [`RelayClient::failure`] for the caller to report.
#[derive(Debug)]
pub struct RelayClient<R, W> {
    reader: R,
    writer: W,
    /// The first transport failure, if any.
    pub failure: Option<RelayError>,
}

impl<R: Read, W: Write> RelayClient<R, W> {
    /// A client reading responses from `reader` and writing requests to `writer`.
    pub fn new(reader: R, writer: W) -> Self {
        Self {
            reader,
            writer,
            failure: None,
        }
    }

    /// Sends `request` and reads its response (`Failed` becomes `Err`).
    ///
    /// # Errors
    ///
    /// The peer's code, or `CKR_DEVICE_REMOVED` on a transport failure.
    pub fn call(&mut self, request: &Request) -> Result<Response, CkRv> {
        if self.failure.is_some() {
            return Err(CKR_DEVICE_REMOVED);
        }
        let result = (|| {
            self.writer
                .write_all(&request.encode())
                .and_then(|()| self.writer.flush())
                .map_err(RelayError::Io)?;
            let frame = read_frame(&mut self.reader)?.ok_or(RelayError::Closed)?;
            decode_response(&frame)
        })();
        match result {
            Ok(Response::Failed(CKR_OK)) => {
                self.failure = Some(RelayError::Malformed("a failure with the code CKR_OK"));
                Err(CKR_DEVICE_REMOVED)
            }
            Ok(Response::Failed(rv)) => Err(rv),
            Ok(response) => Ok(response),
            Err(err) => {
                self.failure = Some(err);
                Err(CKR_DEVICE_REMOVED)
            }
        }
    }

    fn unexpected(&mut self, got: &Response) -> CkRv {
        self.failure = Some(RelayError::Mismatch(got.kind()));
        CKR_DEVICE_REMOVED
    }
}

impl<R: Read, W: Write> Endpoint for RelayClient<R, W> {
    fn max_batch(&self) -> usize {
        BATCH_OBJECTS
    }

    fn cpv4_enabled(&mut self) -> Result<bool, CkRv> {
        match self.call(&Request::Enabled)? {
            Response::Flag(flag) => Ok(flag),
            other => Err(self.unexpected(&other)),
        }
    }

    fn start(&mut self) -> Result<Vec<u8>, CkRv> {
        match self.call(&Request::Start)? {
            Response::Message(offer) => Ok(offer),
            other => Err(self.unexpected(&other)),
        }
    }

    fn continue_negotiation(
        &mut self,
        step: CkUlong,
        input: &[u8],
        uid: Option<&SessionUid>,
    ) -> Result<Continued, CkRv> {
        let request = Request::Continue {
            step,
            input: input.to_vec(),
            uid: uid.copied(),
        };
        match self.call(&request)? {
            Response::Continued(continued) => Ok(continued),
            other => Err(self.unexpected(&other)),
        }
    }

    fn extract(
        &mut self,
        uid: &SessionUid,
        input: &[u8],
        flags: CkUlong,
        objects: &[(CkUlong, ObjectHandle)],
    ) -> Result<Extraction, CkRv> {
        let request = Request::Extract {
            uid: *uid,
            input: input.to_vec(),
            flags,
            objects: objects.to_vec(),
        };
        match self.call(&request)? {
            Response::Extraction(e) if e.results.len() == objects.len() => Ok(e),
            other => Err(self.unexpected(&other)),
        }
    }

    fn insert(
        &mut self,
        uid: &SessionUid,
        flags: CkUlong,
        blobs: &[(CkUlong, CkUlong, &[u8])],
    ) -> Result<Insertion, CkRv> {
        let request = Request::Insert {
            uid: *uid,
            flags,
            blobs: blobs.iter().map(|(t, s, b)| (*t, *s, b.to_vec())).collect(),
        };
        match self.call(&request)? {
            Response::Insertion(i) if i.results.len() == blobs.len() => Ok(i),
            other => Err(self.unexpected(&other)),
        }
    }

    fn close(&mut self, uid: &SessionUid) -> Result<(), CkRv> {
        match self.call(&Request::Close { uid: *uid })? {
            Response::Done => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    fn abandon(&mut self, offer: &[u8]) -> Result<(), CkRv> {
        match self.call(&Request::Abandon {
            offer: offer.to_vec(),
        })? {
            Response::Done => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }
}

/// What the serving side needs besides its endpoint.
pub trait Partition {
    /// The partition's label and serial.
    fn identity(&mut self) -> (String, String);
    /// The handles of the partition's objects with these OUIDs (0 where absent).
    ///
    /// # Errors
    ///
    /// The lookup's code.
    fn lookup(&mut self, ouids: &[Vec<u8>]) -> Result<Vec<ObjectHandle>, CkRv>;
}

/// Answers requests from `reader` with `endpoint` until the stream ends.
///
/// # Errors
///
/// [`RelayError`] for a bad frame or a failed stream (the caller exits: the peer's side of
/// the migration then fails with `CKR_DEVICE_REMOVED`, and nothing half-done stays, since
/// every insert is one transaction).
pub fn serve(
    endpoint: &mut dyn Endpoint,
    partition: &mut dyn Partition,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
) -> Result<(), RelayError> {
    while let Some(frame) = read_frame(reader)? {
        let response = match decode_request(&frame)? {
            Request::Hello => {
                let (label, serial) = partition.identity();
                Response::Hello { label, serial }
            }
            Request::Enabled => endpoint
                .cpv4_enabled()
                .map(Response::Flag)
                .unwrap_or_else(Response::Failed),
            Request::Start => endpoint
                .start()
                .map(Response::Message)
                .unwrap_or_else(Response::Failed),
            Request::Continue { step, input, uid } => endpoint
                .continue_negotiation(step, &input, uid.as_ref())
                .map(Response::Continued)
                .unwrap_or_else(Response::Failed),
            // A peer gets no more work per request than a relayed batch.
            Request::Extract { objects, .. } if objects.len() > BATCH_OBJECTS => {
                Response::Failed(CKR_ARGUMENTS_BAD)
            }
            Request::Insert { blobs, .. } if blobs.len() > BATCH_OBJECTS => {
                Response::Failed(CKR_ARGUMENTS_BAD)
            }
            Request::Lookup { ouids } if ouids.len() > MAX_LOOKUP => {
                Response::Failed(CKR_ARGUMENTS_BAD)
            }
            Request::Extract {
                uid,
                input,
                flags,
                objects,
            } => endpoint
                .extract(&uid, &input, flags, &objects)
                .map(Response::Extraction)
                .unwrap_or_else(Response::Failed),
            Request::Insert { uid, flags, blobs } => {
                let borrowed: Vec<(CkUlong, CkUlong, &[u8])> = blobs
                    .iter()
                    .map(|(t, s, b)| (*t, *s, b.as_slice()))
                    .collect();
                endpoint
                    .insert(&uid, flags, &borrowed)
                    .map(Response::Insertion)
                    .unwrap_or_else(Response::Failed)
            }
            Request::Close { uid } => endpoint
                .close(&uid)
                .map(|()| Response::Done)
                .unwrap_or_else(Response::Failed),
            Request::Abandon { offer } => endpoint
                .abandon(&offer)
                .map(|()| Response::Done)
                .unwrap_or_else(Response::Failed),
            Request::Lookup { ouids } => partition
                .lookup(&ouids)
                .map(Response::Handles)
                .unwrap_or_else(Response::Failed),
        };
        writer
            .write_all(&response.encode())
            .and_then(|()| writer.flush())
            .map_err(RelayError::Io)?;
    }
    Ok(())
}

/// The property the `relay` fuzz target checks: no input panics the decoders, and whatever
/// decodes re-encodes to the same bytes (one encoding per value). The input's first six bytes
/// (version, kind, length) get their CRC inserted after them and the whole a CRC appended, so
/// the fuzzer explores the parser rather than the checksums.
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) {
    let mut frame = data.to_vec();
    if let Some(head) = data.get(..6) {
        let crc = crc32fast::hash(head).to_be_bytes();
        frame.splice(6..6, crc);
    }
    let crc = crc32fast::hash(&frame).to_be_bytes();
    frame.extend_from_slice(&crc);
    if let Ok(request) = decode_request(&frame) {
        assert_eq!(request.encode(), frame, "a request with two encodings");
    }
    if let Ok(response) = decode_response(&frame) {
        assert_eq!(response.encode(), frame, "a response with two encodings");
    }
    let _ = read_frame(&mut &frame[..]);
    let _ = decode_request(data);
    let _ = decode_response(data);
}
