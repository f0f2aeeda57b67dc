//! Cryptographic calls: encrypt, decrypt, sign, verify (single- and multi-part), digest and
//! random. Keys may be used by the Crypto Officer and the Crypto User, and public keys by a
//! session where nobody is logged in (the only keys it sees); not by the Partition SO.
//!
//! As in PKCS#11, an error other than `CKR_OPERATION_ACTIVE`/`CKR_OPERATION_NOT_INITIALIZED`
//! ends the operation; a single-part call or a final call always ends it. Single- and
//! multi-part calls do not mix: a single-part call on an operation that had an update is
//! `CKR_OPERATION_ACTIVE` and ends it (register A63). The `*_len`
//! methods give output lengths without touching the operation (exact, or an upper bound for
//! decryption), so the C module can answer length queries.

use cpv4_wire::consts::*;
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::block::{BlockStream, CtrStream};
use crate::mechanisms::crypto::{CipherOp, RsaCipherKey, SignOp};
use crate::mechanisms::ec::{SigningKey, VerifyingKey};
use crate::mechanisms::mac::MacOp;
use crate::mechanisms::{CipherFamily, Hasher, Mechanism, eddsa, gcm, rsa};
use crate::session::table::{ObjectHandle, Operations, SessionHandle};
use crate::sim::{Inner, SessionView, Simulator};
use crate::store::keys::fill_random;

/// Which operation of a session (one of each may be active).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// Encryption.
    Encrypt,
    /// Decryption.
    Decrypt,
    /// Signature.
    Sign,
    /// Verification.
    Verify,
    /// Digest.
    Digest,
}

use OperationKind as Kind;

/// One step of an encryption: `C_Encrypt`, `C_EncryptUpdate` or `C_EncryptFinal`.
#[derive(Debug, Clone, Copy)]
pub enum CipherStep<'a> {
    /// A single-part call on this input.
    Single(&'a [u8]),
    /// An update on this input.
    Update(&'a [u8]),
    /// The final call.
    Final,
}

/// The output of a step taken only if it fits the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Fitted<T> {
    /// The step ran; its output.
    Done(T),
    /// The output would need this many bytes; nothing moved.
    Needs(usize),
}

/// A stored key whose material the crypto library refuses was damaged after it was checked
/// on creation.
fn corrupt(err: SimError) -> SimError {
    SimError::Corrupt(format!("stored RSA key refused: {err}"))
}

fn key_error(err: SimError) -> SimError {
    if err == SimError::ObjectHandleInvalid {
        SimError::KeyHandleInvalid
    } else {
        err
    }
}

impl Inner {
    fn ops(&mut self, session: SessionHandle) -> SimResult<&mut Operations> {
        Ok(&mut self.sessions.get_mut(session)?.ops)
    }

    fn cipher_slot(
        &mut self,
        session: SessionHandle,
        kind: Kind,
    ) -> SimResult<&mut Option<CipherOp>> {
        let ops = self.ops(session)?;
        Ok(match kind {
            Kind::Encrypt => &mut ops.encrypt,
            Kind::Decrypt => &mut ops.decrypt,
            Kind::Sign | Kind::Verify | Kind::Digest => {
                return Err(SimError::Internal("cipher slot"));
            }
        })
    }

    fn sign_slot(&mut self, session: SessionHandle, kind: Kind) -> SimResult<&mut Option<SignOp>> {
        let ops = self.ops(session)?;
        Ok(match kind {
            Kind::Sign => &mut ops.sign,
            Kind::Verify => &mut ops.verify,
            Kind::Encrypt | Kind::Decrypt | Kind::Digest => {
                return Err(SimError::Internal("sign slot"));
            }
        })
    }

    /// Whether the operation of `kind` had an update call.
    fn multi_part(&mut self, session: SessionHandle, kind: Kind) -> SimResult<&mut bool> {
        let flags = &mut self.ops(session)?.multi_part;
        Ok(match kind {
            Kind::Encrypt => &mut flags.encrypt,
            Kind::Decrypt => &mut flags.decrypt,
            Kind::Sign => &mut flags.sign,
            Kind::Verify => &mut flags.verify,
            Kind::Digest => &mut flags.digest,
        })
    }

    /// A single-part call ends the operation it finds; on an operation that had update calls
    /// it is `CKR_OPERATION_ACTIVE` (PKCS#11 forbids mixing them) and the operation ends too.
    fn check_single(&mut self, session: SessionHandle, kind: Kind) -> SimResult<()> {
        if std::mem::take(self.multi_part(session, kind)?) {
            return Err(SimError::OperationActive);
        }
        Ok(())
    }

    /// Ends the operation of `kind`, if any.
    fn end(&mut self, session: SessionHandle, kind: Kind) -> SimResult<()> {
        *self.multi_part(session, kind)? = false;
        let ops = self.ops(session)?;
        match kind {
            Kind::Encrypt => ops.encrypt = None,
            Kind::Decrypt => {
                ops.decrypt = None;
                ops.context_login.decrypt = false;
            }
            Kind::Sign => {
                ops.sign = None;
                ops.context_login.sign = false;
            }
            Kind::Verify => ops.verify = None,
            Kind::Digest => ops.digest = None,
        }
        Ok(())
    }

    /// Whether the private key of a signing or decryption needs the `CKU_CONTEXT_SPECIFIC`
    /// login for each operation (`CKA_ALWAYS_AUTHENTICATE`). Only private-key mechanisms
    /// look: secret keys never have the attribute.
    fn always_authenticates(
        &mut self,
        view: &SessionView,
        key: ObjectHandle,
        mechanism: &Mechanism,
    ) -> SimResult<bool> {
        let private = matches!(
            mechanism,
            Mechanism::Ecdsa
                | Mechanism::EcdsaHash(_)
                | Mechanism::Eddsa
                | Mechanism::RsaPkcs
                | Mechanism::RsaX509
                | Mechanism::RsaOaep(_)
                | Mechanism::RsaPkcsHash(_)
                | Mechanism::RsaPkcsPss(_)
                | Mechanism::RsaPssHash(_)
        );
        Ok(private
            && self
                .load_object(view, key)?
                .attrs
                .is(CKA_ALWAYS_AUTHENTICATE))
    }

    /// A signing or decryption that waits for the `CKU_CONTEXT_SPECIFIC` login goes no
    /// further: the call is `CKR_USER_NOT_LOGGED_IN` and ends it (register A79). Length
    /// queries do not come here.
    fn check_context_login(&mut self, session: SessionHandle, kind: Kind) -> SimResult<()> {
        let ops = self.ops(session)?;
        let waiting = match kind {
            Kind::Sign => ops.context_login.sign && ops.sign.is_some(),
            Kind::Decrypt => ops.context_login.decrypt && ops.decrypt.is_some(),
            Kind::Encrypt | Kind::Verify | Kind::Digest => false,
        };
        if waiting {
            self.end(session, kind)?;
            return Err(SimError::UserNotLoggedIn);
        }
        Ok(())
    }

    /// Loads a key for an operation: visible, of the right class, with the usage flag, and
    /// allowed the mechanism (`CKA_ALLOWED_MECHANISMS`).
    fn usable_key(
        &mut self,
        view: &SessionView,
        key: ObjectHandle,
        classes: &[CkObjectClass],
        key_types: &[CkKeyType],
        usage: CkAttributeType,
        mechanism: &Mechanism,
    ) -> SimResult<crate::token::attrs::AttrMap> {
        let obj = self.load_object(view, key).map_err(key_error)?;
        let class = obj.attrs.ulong(CKA_CLASS).unwrap_or(CkUlong::MAX);
        let key_type = obj.attrs.ulong(CKA_KEY_TYPE).unwrap_or(CkUlong::MAX);
        if !classes.contains(&class) || !key_types.contains(&key_type) {
            return Err(SimError::KeyTypeInconsistent);
        }
        if !obj.attrs.is(usage) {
            return Err(SimError::KeyFunctionNotPermitted);
        }
        crate::token::objects::check_allowed(&obj.attrs, mechanism.mechanism_type())?;
        Ok(obj.attrs)
    }

    fn cipher_init(
        &mut self,
        session: SessionHandle,
        kind: Kind,
        mechanism: &Mechanism,
        key: ObjectHandle,
    ) -> SimResult<()> {
        let view = self.session(session)?;
        view.require_key_user()?;
        if self.cipher_slot(session, kind)?.is_some() {
            return Err(SimError::OperationActive);
        }
        let encrypt = matches!(kind, Kind::Encrypt);
        let usage = if encrypt { CKA_ENCRYPT } else { CKA_DECRYPT };
        let op = match mechanism {
            Mechanism::AesGcm(params) => {
                gcm::check_params(params)?;
                let attrs =
                    self.usable_key(&view, key, &[CKO_SECRET_KEY], &[CKK_AES], usage, mechanism)?;
                CipherOp::Gcm {
                    key: zeroize::Zeroizing::new(attrs.value()?.to_vec()),
                    params: params.clone(),
                    buffer: zeroize::Zeroizing::new(Vec::new()),
                    encrypt,
                }
            }
            Mechanism::Block { family, mode, iv } => {
                let attrs = self.usable_key(
                    &view,
                    key,
                    &[CKO_SECRET_KEY],
                    family.key_types(),
                    usage,
                    mechanism,
                )?;
                let key_type = attrs.ulong(CKA_KEY_TYPE).unwrap_or(CkUlong::MAX);
                CipherOp::Block(Box::new(BlockStream::new(
                    key_type,
                    attrs.value()?,
                    *mode,
                    iv,
                    encrypt,
                )?))
            }
            Mechanism::AesCtr(params) => {
                let attrs =
                    self.usable_key(&view, key, &[CKO_SECRET_KEY], &[CKK_AES], usage, mechanism)?;
                CipherOp::Ctr(Box::new(CtrStream::new(attrs.value()?, params, encrypt)?))
            }
            Mechanism::RsaPkcs | Mechanism::RsaX509 | Mechanism::RsaOaep(_) => {
                let scheme = match mechanism {
                    Mechanism::RsaOaep(params) => rsa::Encryption::Oaep(params.clone()),
                    Mechanism::RsaX509 => rsa::Encryption::Raw,
                    _ => rsa::Encryption::Pkcs1,
                };
                let class = if encrypt {
                    CKO_PUBLIC_KEY
                } else {
                    CKO_PRIVATE_KEY
                };
                let attrs = self.usable_key(&view, key, &[class], &[CKK_RSA], usage, mechanism)?;
                let key = if encrypt {
                    RsaCipherKey::Public(Box::new(rsa::public_key(&attrs).map_err(corrupt)?))
                } else {
                    RsaCipherKey::Private(Box::new(rsa::private_key(&attrs).map_err(corrupt)?))
                };
                CipherOp::Rsa { key, scheme }
            }
            _ => return Err(SimError::MechanismInvalid),
        };
        let waits = !encrypt && self.always_authenticates(&view, key, mechanism)?;
        *self.cipher_slot(session, kind)? = Some(op);
        *self.multi_part(session, kind)? = false;
        if !encrypt {
            // An encryption beside it changes nothing of the decryption's wait.
            self.ops(session)?.context_login.wait(Kind::Decrypt, waits);
        }
        Ok(())
    }

    fn cipher_single(
        &mut self,
        session: SessionHandle,
        kind: Kind,
        data: &[u8],
    ) -> SimResult<Zeroizing<Vec<u8>>> {
        self.check_context_login(session, kind)?;
        let op = self
            .cipher_slot(session, kind)?
            .take()
            .ok_or(SimError::OperationNotInitialized)?;
        self.check_single(session, kind)?;
        op.single(data)
    }

    fn cipher_update(
        &mut self,
        session: SessionHandle,
        kind: Kind,
        data: &[u8],
    ) -> SimResult<Vec<u8>> {
        self.check_context_login(session, kind)?;
        let output = self
            .cipher_slot(session, kind)?
            .as_mut()
            .ok_or(SimError::OperationNotInitialized)?
            .update(data)?;
        *self.multi_part(session, kind)? = true;
        Ok(output)
    }

    fn cipher_final(
        &mut self,
        session: SessionHandle,
        kind: Kind,
    ) -> SimResult<Zeroizing<Vec<u8>>> {
        self.check_context_login(session, kind)?;
        self.cipher_slot(session, kind)?
            .take()
            .ok_or(SimError::OperationNotInitialized)?
            .finish()
    }

    fn cipher_len(
        &mut self,
        session: SessionHandle,
        kind: Kind,
        input: Option<usize>,
        single: bool,
    ) -> SimResult<usize> {
        let slot = self.cipher_slot(session, kind)?;
        let op = slot.as_ref().ok_or(SimError::OperationNotInitialized)?;
        if !single && op.single_part_only() {
            // The update or final call this length is for is refused: it ends the operation.
            *slot = None;
            return Err(SimError::FunctionNotSupported);
        }
        Ok(match (input, single) {
            (input, true) => op.single_len(input.unwrap_or(0)),
            (Some(input), false) => op.update_len(input),
            (None, false) => op.final_len(),
        })
    }

    /// Starts a signature or verification of `kind`; with `recover`, one with recovery
    /// (`C_SignRecoverInit`, `C_VerifyRecoverInit`: raw RSA and PKCS #1 v1.5 only). Either
    /// kind of signing occupies the session's one signing slot.
    fn sign_init(
        &mut self,
        session: SessionHandle,
        kind: Kind,
        mechanism: &Mechanism,
        key: ObjectHandle,
        recover: bool,
    ) -> SimResult<()> {
        let view = self.session(session)?;
        view.require_key_user()?;
        if self.sign_slot(session, kind)?.is_some() {
            return Err(SimError::OperationActive);
        }
        if recover && !matches!(mechanism, Mechanism::RsaPkcs | Mechanism::RsaX509) {
            return Err(SimError::MechanismInvalid);
        }
        let signing = matches!(kind, Kind::Sign);
        let usage = match (signing, recover) {
            (true, false) => CKA_SIGN,
            (false, false) => CKA_VERIFY,
            (true, true) => CKA_SIGN_RECOVER,
            (false, true) => CKA_VERIFY_RECOVER,
        };
        let op = match mechanism {
            Mechanism::Ecdsa | Mechanism::EcdsaHash(_) => {
                let class = if signing {
                    CKO_PRIVATE_KEY
                } else {
                    CKO_PUBLIC_KEY
                };
                let attrs = self.usable_key(&view, key, &[class], &[CKK_EC], usage, mechanism)?;
                let hasher = match mechanism {
                    Mechanism::EcdsaHash(hash) => Some(Hasher::new(*hash)),
                    _ => None,
                };
                if signing {
                    let key = SigningKey::of(&attrs)?;
                    match hasher {
                        Some(hasher) => SignOp::EcdsaHashSign(key, hasher),
                        None => SignOp::EcdsaSign(key),
                    }
                } else {
                    let key = VerifyingKey::of(&attrs)?;
                    match hasher {
                        Some(hasher) => SignOp::EcdsaHashVerify(key, hasher),
                        None => SignOp::EcdsaVerify(key),
                    }
                }
            }
            Mechanism::Eddsa => {
                let class = if signing {
                    CKO_PRIVATE_KEY
                } else {
                    CKO_PUBLIC_KEY
                };
                let attrs =
                    self.usable_key(&view, key, &[class], &[CKK_EC_EDWARDS], usage, mechanism)?;
                if signing {
                    SignOp::EddsaSign(Box::new(eddsa::signing_key(attrs.value()?)?))
                } else {
                    let point = attrs
                        .get(CKA_EC_POINT)
                        .ok_or(SimError::Corrupt("Edwards public key without point".into()))?;
                    SignOp::EddsaVerify(Box::new(eddsa::verifying_key(point)?))
                }
            }
            Mechanism::Hmac(_) | Mechanism::HmacGeneral(..) => {
                let attrs = self.usable_key(
                    &view,
                    key,
                    &[CKO_SECRET_KEY],
                    &[CKK_GENERIC_SECRET, CKK_AES],
                    usage,
                    mechanism,
                )?;
                let (hash, len) = match mechanism {
                    Mechanism::HmacGeneral(hash, len) => (*hash, Some(*len)),
                    Mechanism::Hmac(hash) => (*hash, None),
                    _ => return Err(SimError::Internal("HMAC mechanism")),
                };
                SignOp::Mac(MacOp::hmac(hash, attrs.value()?, len)?)
            }
            Mechanism::Cmac { family, len } => {
                let family = match family {
                    CipherFamily::Aes | CipherFamily::Des3 => family,
                    CipherFamily::Des => return Err(SimError::MechanismInvalid),
                };
                let attrs = self.usable_key(
                    &view,
                    key,
                    &[CKO_SECRET_KEY],
                    family.key_types(),
                    usage,
                    mechanism,
                )?;
                let key_type = attrs.ulong(CKA_KEY_TYPE).unwrap_or(CkUlong::MAX);
                SignOp::Mac(MacOp::cmac(key_type, attrs.value()?, *len)?)
            }
            Mechanism::RsaPkcs
            | Mechanism::RsaX509
            | Mechanism::RsaPkcsHash(_)
            | Mechanism::RsaPkcsPss(_)
            | Mechanism::RsaPssHash(_) => {
                let (scheme, hasher) = match mechanism {
                    Mechanism::RsaX509 => (rsa::Signature::Raw, None),
                    Mechanism::RsaPkcsHash(hash) => {
                        (rsa::Signature::Pkcs1(*hash), Some(Hasher::new(*hash)))
                    }
                    Mechanism::RsaPkcsPss(params) => (rsa::Signature::Pss(params.clone()), None),
                    Mechanism::RsaPssHash(params) => (
                        rsa::Signature::Pss(params.clone()),
                        Some(Hasher::new(params.hash)),
                    ),
                    _ => (rsa::Signature::Pkcs1Raw, None),
                };
                if signing {
                    let attrs = self.usable_key(
                        &view,
                        key,
                        &[CKO_PRIVATE_KEY],
                        &[CKK_RSA],
                        usage,
                        mechanism,
                    )?;
                    let key = Box::new(rsa::private_key(&attrs).map_err(corrupt)?);
                    if recover {
                        SignOp::RsaSignRecover { key, scheme }
                    } else {
                        SignOp::RsaSign {
                            key,
                            scheme,
                            hasher,
                        }
                    }
                } else {
                    let attrs = self.usable_key(
                        &view,
                        key,
                        &[CKO_PUBLIC_KEY],
                        &[CKK_RSA],
                        usage,
                        mechanism,
                    )?;
                    let key = Box::new(rsa::public_key(&attrs).map_err(corrupt)?);
                    if recover {
                        SignOp::RsaVerifyRecover { key, scheme }
                    } else {
                        SignOp::RsaVerify {
                            key,
                            scheme,
                            hasher,
                        }
                    }
                }
            }
            _ => return Err(SimError::MechanismInvalid),
        };
        let waits = signing && self.always_authenticates(&view, key, mechanism)?;
        *self.sign_slot(session, kind)? = Some(op);
        *self.multi_part(session, kind)? = false;
        if signing {
            // A verification beside it changes nothing of the signing's wait.
            self.ops(session)?.context_login.wait(Kind::Sign, waits);
        }
        Ok(())
    }

    /// The active signing or verification of `kind`, with recovery or without:
    /// `CKR_OPERATION_NOT_INITIALIZED` when there is none of that sort, which leaves an
    /// operation of the other sort as it was.
    fn sign_op(
        &mut self,
        session: SessionHandle,
        kind: Kind,
        recover: bool,
    ) -> SimResult<&mut SignOp> {
        self.sign_slot(session, kind)?
            .as_mut()
            .filter(|op| op.is_recover() == recover)
            .ok_or(SimError::OperationNotInitialized)
    }

    fn sign_update(&mut self, session: SessionHandle, kind: Kind, data: &[u8]) -> SimResult<()> {
        self.sign_op(session, kind, false)?;
        self.check_context_login(session, kind)?;
        let result = self.sign_op(session, kind, false)?.update(data);
        if result.is_err() {
            *self.sign_slot(session, kind)? = None;
        }
        result?;
        *self.multi_part(session, kind)? = true;
        Ok(())
    }

    /// The signing or verification state for the final step; for a single-part call
    /// (`single`), refused on an operation that had updates.
    fn take_sign(
        &mut self,
        session: SessionHandle,
        kind: Kind,
        single: bool,
        recover: bool,
    ) -> SimResult<SignOp> {
        self.sign_op(session, kind, recover)?;
        self.check_context_login(session, kind)?;
        let op = self
            .sign_slot(session, kind)?
            .take()
            .ok_or(SimError::OperationNotInitialized)?;
        if single {
            self.check_single(session, kind)?;
        }
        Ok(op)
    }
}

/// Ends the operation on error for update calls (PKCS#11 rule).
/// The body of [`Simulator::check_updates`], under a lock already held.
fn check_updates(
    inner: &mut Inner,
    session: SessionHandle,
    kinds: &[OperationKind],
) -> SimResult<()> {
    let mut single_part_only = false;
    for &kind in kinds {
        single_part_only |= match kind {
            Kind::Encrypt | Kind::Decrypt => inner
                .cipher_slot(session, kind)?
                .as_ref()
                .ok_or(SimError::OperationNotInitialized)?
                .single_part_only(),
            Kind::Sign | Kind::Verify => inner.sign_op(session, kind, false)?.single_part_only(),
            Kind::Digest => {
                inner
                    .ops(session)?
                    .digest
                    .as_ref()
                    .ok_or(SimError::OperationNotInitialized)?;
                false
            }
        };
    }
    if single_part_only {
        return Err(SimError::FunctionNotSupported);
    }
    Ok(())
}

fn digest_update(inner: &mut Inner, session: SessionHandle, data: &[u8]) -> SimResult<()> {
    let ops = inner.ops(session)?;
    ops.digest
        .as_mut()
        .ok_or(SimError::OperationNotInitialized)?
        .update(data);
    ops.multi_part.digest = true;
    Ok(())
}

fn end_on_error<T>(
    inner: &mut Inner,
    session: SessionHandle,
    kind: Kind,
    result: SimResult<T>,
) -> SimResult<T> {
    if result.is_err()
        && let Ok(slot) = inner.cipher_slot(session, kind)
    {
        *slot = None;
    }
    result
}

impl Simulator {
    /// `C_EncryptInit`: `CKM_AES_GCM` or `CKM_AES_CBC_PAD` with an AES key, `CKM_RSA_PKCS`,
    /// `CKM_RSA_X_509` or `CKM_RSA_PKCS_OAEP` with an RSA public key; the key has
    /// `CKA_ENCRYPT`.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_ACTIVE`, `CKR_MECHANISM_INVALID`, `CKR_MECHANISM_PARAM_INVALID`,
    /// `CKR_KEY_HANDLE_INVALID`, `CKR_KEY_TYPE_INCONSISTENT`, `CKR_KEY_FUNCTION_NOT_PERMITTED`,
    /// `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED`.
    pub fn encrypt_init(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        key: ObjectHandle,
    ) -> SimResult<()> {
        self.lock()
            .cipher_init(session, Kind::Encrypt, mechanism, key)
    }

    /// `C_Encrypt`: single-part; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_DATA_LEN_RANGE`.
    pub fn encrypt(&self, session: SessionHandle, data: &[u8]) -> SimResult<Vec<u8>> {
        let mut out = self.lock().cipher_single(session, Kind::Encrypt, data)?;
        Ok(std::mem::take(&mut *out))
    }

    /// `C_EncryptUpdate`.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn encrypt_update(&self, session: SessionHandle, data: &[u8]) -> SimResult<Vec<u8>> {
        let mut inner = self.lock();
        let result = inner.cipher_update(session, Kind::Encrypt, data);
        end_on_error(&mut inner, session, Kind::Encrypt, result)
    }

    /// `C_EncryptFinal`; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_DATA_LEN_RANGE`.
    pub fn encrypt_final(&self, session: SessionHandle) -> SimResult<Vec<u8>> {
        let mut out = self.lock().cipher_final(session, Kind::Encrypt)?;
        Ok(std::mem::take(&mut *out))
    }

    /// One encryption step, taken only if its output fits `capacity` bytes: the length is
    /// found and the step taken under one lock, so another thread's call on the session
    /// cannot grow the output between the two, after the caller's buffer was found big enough
    /// (the output would then be lost with the operation moved on; register A76).
    ///
    /// # Errors
    ///
    /// As [`Simulator::encrypt`], [`Simulator::encrypt_update`], [`Simulator::encrypt_final`].
    pub fn encrypt_fitting(
        &self,
        session: SessionHandle,
        step: CipherStep<'_>,
        capacity: usize,
    ) -> SimResult<Fitted<Vec<u8>>> {
        let mut inner = self.lock();
        let (input, single) = match step {
            CipherStep::Single(data) => (Some(data.len()), true),
            CipherStep::Update(data) => (Some(data.len()), false),
            CipherStep::Final => (None, false),
        };
        let needed = inner.cipher_len(session, Kind::Encrypt, input, single)?;
        if needed > capacity {
            return Ok(Fitted::Needs(needed));
        }
        Ok(Fitted::Done(match step {
            CipherStep::Single(data) => {
                std::mem::take(&mut *inner.cipher_single(session, Kind::Encrypt, data)?)
            }
            CipherStep::Update(data) => {
                let result = inner.cipher_update(session, Kind::Encrypt, data);
                end_on_error(&mut inner, session, Kind::Encrypt, result)?
            }
            CipherStep::Final => std::mem::take(&mut *inner.cipher_final(session, Kind::Encrypt)?),
        }))
    }

    /// Output length of the next encryption call: `Some(n)` with `single` for `C_Encrypt` of
    /// `n` bytes, `Some(n)` without for `C_EncryptUpdate`, `None` for `C_EncryptFinal`.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn encrypt_len(
        &self,
        session: SessionHandle,
        input: Option<usize>,
        single: bool,
    ) -> SimResult<usize> {
        self.lock()
            .cipher_len(session, Kind::Encrypt, input, single)
    }

    /// `C_DecryptInit` (see [`Simulator::encrypt_init`]; the key needs `CKA_DECRYPT`).
    ///
    /// # Errors
    ///
    /// As [`Simulator::encrypt_init`].
    pub fn decrypt_init(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        key: ObjectHandle,
    ) -> SimResult<()> {
        self.lock()
            .cipher_init(session, Kind::Decrypt, mechanism, key)
    }

    /// `C_Decrypt`: single-part; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_ENCRYPTED_DATA_INVALID`,
    /// `CKR_ENCRYPTED_DATA_LEN_RANGE`.
    /// The plaintext is wiped when dropped.
    pub fn decrypt(&self, session: SessionHandle, data: &[u8]) -> SimResult<Zeroizing<Vec<u8>>> {
        self.lock().cipher_single(session, Kind::Decrypt, data)
    }

    /// `C_DecryptUpdate`.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn decrypt_update(
        &self,
        session: SessionHandle,
        data: &[u8],
    ) -> SimResult<Zeroizing<Vec<u8>>> {
        let mut inner = self.lock();
        let result = inner.cipher_update(session, Kind::Decrypt, data);
        end_on_error(&mut inner, session, Kind::Decrypt, result).map(Zeroizing::new)
    }

    /// `C_DecryptFinal`; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_ENCRYPTED_DATA_INVALID`,
    /// `CKR_ENCRYPTED_DATA_LEN_RANGE`.
    pub fn decrypt_final(&self, session: SessionHandle) -> SimResult<Zeroizing<Vec<u8>>> {
        self.lock().cipher_final(session, Kind::Decrypt)
    }

    /// Output length (upper bound) of the next decryption call, as
    /// [`Simulator::encrypt_len`].
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn decrypt_len(
        &self,
        session: SessionHandle,
        input: Option<usize>,
        single: bool,
    ) -> SimResult<usize> {
        self.lock()
            .cipher_len(session, Kind::Decrypt, input, single)
    }

    /// `C_SignInit`: `CKM_ECDSA` and `CKM_ECDSA_SHA*` (EC private key), `CKM_SHA*_HMAC`
    /// (generic secret or AES key), the RSA signature mechanisms (RSA private key); the key
    /// has `CKA_SIGN`.
    ///
    /// # Errors
    ///
    /// As [`Simulator::encrypt_init`].
    pub fn sign_init(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        key: ObjectHandle,
    ) -> SimResult<()> {
        self.lock()
            .sign_init(session, Kind::Sign, mechanism, key, false)
    }

    /// `C_Sign`: single-part; ends the operation. `CKM_ECDSA` signs `data` as a hash.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_DATA_LEN_RANGE`.
    pub fn sign(&self, session: SessionHandle, data: &[u8]) -> SimResult<Vec<u8>> {
        self.lock()
            .take_sign(session, Kind::Sign, true, false)?
            .sign(Some(data))
    }

    /// `C_SignUpdate` (not for `CKM_ECDSA`, which is single-part:
    /// `CKR_FUNCTION_NOT_SUPPORTED`).
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_FUNCTION_NOT_SUPPORTED`.
    pub fn sign_update(&self, session: SessionHandle, data: &[u8]) -> SimResult<()> {
        self.lock().sign_update(session, Kind::Sign, data)
    }

    /// `C_SignFinal`; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_FUNCTION_NOT_SUPPORTED` (`CKM_ECDSA`).
    pub fn sign_final(&self, session: SessionHandle) -> SimResult<Vec<u8>> {
        self.lock()
            .take_sign(session, Kind::Sign, false, false)?
            .sign(None)
    }

    /// Length of the signature the active signing operation produces.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn sign_len(&self, session: SessionHandle) -> SimResult<usize> {
        Ok(self
            .lock()
            .sign_op(session, Kind::Sign, false)?
            .signature_len())
    }

    /// `C_SignRecoverInit`: `CKM_RSA_PKCS` or `CKM_RSA_X_509` with an RSA private key that has
    /// `CKA_SIGN_RECOVER`. It is a signing operation: `C_SignInit` cannot start beside it, and
    /// the plain signing calls do not see it (`CKR_OPERATION_NOT_INITIALIZED`).
    ///
    /// # Errors
    ///
    /// As [`Simulator::sign_init`]; another mechanism is `CKR_MECHANISM_INVALID`.
    pub fn sign_recover_init(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        key: ObjectHandle,
    ) -> SimResult<()> {
        self.lock()
            .sign_init(session, Kind::Sign, mechanism, key, true)
    }

    /// Length of the signature the active sign-recover operation produces (the modulus's).
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn sign_recover_len(&self, session: SessionHandle) -> SimResult<usize> {
        Ok(self
            .lock()
            .sign_op(session, Kind::Sign, true)?
            .signature_len())
    }

    /// `C_SignRecover`: single-part; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_DATA_LEN_RANGE` (PKCS #1 v1.5: more than the
    /// modulus length less 11 bytes; raw: more than the modulus length), `CKR_DATA_INVALID`
    /// (raw: not below the modulus).
    pub fn sign_recover(&self, session: SessionHandle, data: &[u8]) -> SimResult<Vec<u8>> {
        self.lock()
            .take_sign(session, Kind::Sign, true, true)?
            .sign(Some(data))
    }

    /// `C_VerifyRecoverInit`: as [`Simulator::sign_recover_init`], with an RSA public key that
    /// has `CKA_VERIFY_RECOVER`.
    ///
    /// # Errors
    ///
    /// As [`Simulator::sign_recover_init`].
    pub fn verify_recover_init(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        key: ObjectHandle,
    ) -> SimResult<()> {
        self.lock()
            .sign_init(session, Kind::Verify, mechanism, key, true)
    }

    /// `C_VerifyRecover`: the data `signature` carries (raw RSA: the whole modulus-length
    /// block). The operation ends with the call unless `room` (the caller's buffer, `None` for
    /// a length query) is too small for the data, so the caller can ask again; an error ends it.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_SIGNATURE_LEN_RANGE`, `CKR_SIGNATURE_INVALID`.
    pub fn verify_recover(
        &self,
        session: SessionHandle,
        signature: &[u8],
        room: Option<usize>,
    ) -> SimResult<Vec<u8>> {
        let mut inner = self.lock();
        let recovered = inner
            .sign_op(session, Kind::Verify, true)?
            .recover(signature);
        let ends = match &recovered {
            Ok(data) => room.is_some_and(|room| data.len() <= room),
            Err(_) => true,
        };
        if ends {
            inner.end(session, Kind::Verify)?;
        }
        recovered
    }

    /// `C_VerifyInit`: the mechanisms of [`Simulator::sign_init`] with the public key (or the
    /// HMAC secret), which has `CKA_VERIFY`.
    ///
    /// # Errors
    ///
    /// As [`Simulator::encrypt_init`].
    pub fn verify_init(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        key: ObjectHandle,
    ) -> SimResult<()> {
        self.lock()
            .sign_init(session, Kind::Verify, mechanism, key, false)
    }

    /// `C_Verify`: single-part; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_SIGNATURE_INVALID`, `CKR_SIGNATURE_LEN_RANGE`.
    pub fn verify(&self, session: SessionHandle, data: &[u8], signature: &[u8]) -> SimResult<()> {
        self.lock()
            .take_sign(session, Kind::Verify, true, false)?
            .verify(Some(data), signature)
    }

    /// `C_VerifyUpdate`.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_FUNCTION_NOT_SUPPORTED` (`CKM_ECDSA`).
    pub fn verify_update(&self, session: SessionHandle, data: &[u8]) -> SimResult<()> {
        self.lock().sign_update(session, Kind::Verify, data)
    }

    /// `C_VerifyFinal`; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_SIGNATURE_INVALID`, `CKR_SIGNATURE_LEN_RANGE`.
    pub fn verify_final(&self, session: SessionHandle, signature: &[u8]) -> SimResult<()> {
        self.lock()
            .take_sign(session, Kind::Verify, false, false)?
            .verify(None, signature)
    }

    /// `C_DigestInit` with `CKM_SHA_1`, `CKM_SHA224`, `CKM_SHA256`, `CKM_SHA384` or
    /// `CKM_SHA512` (no login needed).
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_ACTIVE`, `CKR_MECHANISM_INVALID`.
    pub fn digest_init(&self, session: SessionHandle, mechanism: &Mechanism) -> SimResult<()> {
        let mut inner = self.lock();
        let ops = inner.ops(session)?;
        if ops.digest.is_some() {
            return Err(SimError::OperationActive);
        }
        let Mechanism::Digest(hash) = mechanism else {
            return Err(SimError::MechanismInvalid);
        };
        ops.digest = Some(Hasher::new(*hash));
        ops.multi_part.digest = false;
        Ok(())
    }

    /// Length of the digest the active digest operation produces.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn digest_len(&self, session: SessionHandle) -> SimResult<usize> {
        let mut inner = self.lock();
        Ok(inner
            .ops(session)?
            .digest
            .as_ref()
            .ok_or(SimError::OperationNotInitialized)?
            .alg()
            .output_len())
    }

    /// `C_Digest`: single-part; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn digest(&self, session: SessionHandle, data: &[u8]) -> SimResult<Vec<u8>> {
        let mut inner = self.lock();
        let mut hash = inner
            .ops(session)?
            .digest
            .take()
            .ok_or(SimError::OperationNotInitialized)?;
        inner.check_single(session, Kind::Digest)?;
        hash.update(data);
        Ok(hash.finish())
    }

    /// `C_DigestUpdate`.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn digest_update(&self, session: SessionHandle, data: &[u8]) -> SimResult<()> {
        digest_update(&mut self.lock(), session, data)
    }

    /// `C_DigestKey`: digests the value of a secret key into the active digest, as an update.
    /// A key whose value the caller could not read (sensitive or unextractable) is
    /// `CKR_KEY_INDIGESTIBLE`, so a digest cannot confirm a guessed value (register A75), and
    /// so is a key of another class.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_KEY_HANDLE_INVALID`, `CKR_KEY_INDIGESTIBLE`.
    pub fn digest_key(&self, session: SessionHandle, key: ObjectHandle) -> SimResult<()> {
        let mut inner = self.lock();
        if inner.ops(session)?.digest.is_none() {
            return Err(SimError::OperationNotInitialized);
        }
        let view = inner.session(session)?;
        let object = inner.load_object(&view, key).map_err(key_error)?;
        if object.attrs.ulong(CKA_CLASS) != Some(CKO_SECRET_KEY)
            || crate::token::objects::is_unreadable(&object.attrs, CKA_VALUE)
        {
            return Err(SimError::KeyIndigestible);
        }
        let ops = inner.ops(session)?;
        ops.digest
            .as_mut()
            .ok_or(SimError::OperationNotInitialized)?
            .update(object.attrs.value()?);
        ops.multi_part.digest = true;
        Ok(())
    }

    /// `C_DigestFinal`; ends the operation.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn digest_final(&self, session: SessionHandle) -> SimResult<Vec<u8>> {
        let mut inner = self.lock();
        let hash = inner
            .ops(session)?
            .digest
            .take()
            .ok_or(SimError::OperationNotInitialized)?;
        Ok(hash.finish())
    }

    /// Checks, moving nothing, that update calls of each of `kinds` could run on `session`: an
    /// operation of each kind is active (for a signing or verification, of the plain sort, not
    /// a recover one), and each takes updates. The dual-function calls look at both of their
    /// halves with this before either moves, so neither a missing half nor a single-part-only
    /// one is found after the other half has taken the data; a missing one is reported before
    /// a single-part-only one (register A76).
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`, `CKR_FUNCTION_NOT_SUPPORTED` (an operation is
    /// single-part only: RSA encryption, `CKM_ECDSA`, EdDSA, raw RSA signatures).
    pub fn check_updates(&self, session: SessionHandle, kinds: &[OperationKind]) -> SimResult<()> {
        check_updates(&mut self.lock(), session, kinds)
    }

    /// The update of `C_DigestEncryptUpdate` or `C_SignEncryptUpdate`: `data` goes to the
    /// digest or signing (`kind`), then is encrypted, if the ciphertext fits `capacity` bytes.
    /// Both halves and the length are checked first (as [`Simulator::check_updates`] and
    /// [`Simulator::encrypt_fitting`]) and all of it runs under one lock, so another thread's
    /// call on the session can neither end one half between the two nor grow the output past
    /// the caller's buffer (register A76).
    ///
    /// # Errors
    ///
    /// As [`Simulator::check_updates`] and [`Simulator::encrypt_update`].
    pub fn update_then_encrypt(
        &self,
        session: SessionHandle,
        kind: OperationKind,
        data: &[u8],
        capacity: usize,
    ) -> SimResult<Fitted<Vec<u8>>> {
        if !matches!(kind, Kind::Digest | Kind::Sign) {
            return Err(SimError::Internal("no dual function encrypts after this"));
        }
        let mut inner = self.lock();
        check_updates(&mut inner, session, &[kind, Kind::Encrypt])?;
        let needed = inner.cipher_len(session, Kind::Encrypt, Some(data.len()), false)?;
        if needed > capacity {
            return Ok(Fitted::Needs(needed));
        }
        match kind {
            Kind::Sign => inner.sign_update(session, kind, data)?,
            _ => digest_update(&mut inner, session, data)?,
        }
        let result = inner.cipher_update(session, Kind::Encrypt, data);
        end_on_error(&mut inner, session, Kind::Encrypt, result).map(Fitted::Done)
    }

    /// The update of `C_DecryptDigestUpdate` or `C_DecryptVerifyUpdate`: decrypts `data`, then
    /// gives the plaintext to the digest or verification (`kind`), under one lock as
    /// [`Simulator::update_then_encrypt`] (register A76).
    ///
    /// # Errors
    ///
    /// As [`Simulator::check_updates`] and [`Simulator::decrypt_update`].
    pub fn decrypt_update_then(
        &self,
        session: SessionHandle,
        kind: OperationKind,
        data: &[u8],
    ) -> SimResult<Zeroizing<Vec<u8>>> {
        if !matches!(kind, Kind::Digest | Kind::Verify) {
            return Err(SimError::Internal("no dual function decrypts before this"));
        }
        let mut inner = self.lock();
        check_updates(&mut inner, session, &[Kind::Decrypt, kind])?;
        let result = inner.cipher_update(session, Kind::Decrypt, data);
        let plain = Zeroizing::new(end_on_error(&mut inner, session, Kind::Decrypt, result)?);
        match kind {
            Kind::Verify => inner.sign_update(session, kind, &plain)?,
            _ => digest_update(&mut inner, session, &plain)?,
        }
        Ok(plain)
    }

    /// Ends the operation of `kind` on `session`, if one is active: PKCS#11 ends an operation on
    /// any error but `CKR_BUFFER_TOO_SMALL`, and the C module calls this for the errors it finds
    /// itself (a NULL pointer, say) before the simulator sees the call.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`.
    pub fn end_operation(&self, session: SessionHandle, kind: OperationKind) -> SimResult<()> {
        self.lock().end(session, kind)
    }

    /// As [`Simulator::end_operation`], but a signing or verification ends only if it is of the
    /// sort of the call that failed: a plain call's error leaves a sign- or verify-recover
    /// operation as it was, and the other way round (register A78).
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`.
    pub fn end_operation_of_sort(
        &self,
        session: SessionHandle,
        kind: OperationKind,
        recover: bool,
    ) -> SimResult<()> {
        let mut inner = self.lock();
        if matches!(kind, Kind::Sign | Kind::Verify) {
            let sort = inner
                .sign_slot(session, kind)?
                .as_ref()
                .map(SignOp::is_recover);
            if sort.is_some_and(|found| found != recover) {
                return Ok(());
            }
        }
        inner.end(session, kind)
    }

    /// `C_GenerateRandom` into `out`, in place: the caller's length costs no allocation.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_DEVICE_ERROR` if the OS generator fails.
    pub fn generate_random_into(&self, session: SessionHandle, out: &mut [u8]) -> SimResult<()> {
        self.lock().session(session)?;
        fill_random(out)
    }

    /// `C_GenerateRandom` of `len` bytes.
    ///
    /// # Errors
    ///
    /// As [`Simulator::generate_random_into`].
    pub fn generate_random(&self, session: SessionHandle, len: usize) -> SimResult<Vec<u8>> {
        let mut out = vec![0u8; len];
        self.generate_random_into(session, &mut out)?;
        Ok(out)
    }
}
