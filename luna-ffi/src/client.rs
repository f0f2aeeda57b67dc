//! The application side of a PKCS#11 module, as safe Rust: this crate's own module linked into
//! the program ([`Module::builtin`]), or any module loaded by path ([`Module::load`]), its
//! `CA_*` extensions resolved by name as the vendor's tools do. Both go through one function
//! table, so a program drives the simulator and a real Luna client the same way; the `cpv4`
//! command line is built on it.
//!
//! Every call returns the module's `CK_RV` as the error. Buffers are sized by asking the
//! module first (the PKCS#11 length query), so nothing is truncated.

use std::ffi::c_void;
use std::path::Path;
use std::ptr;

use cpv4_migrate::{Continued, Endpoint, Extraction, Insertion, SessionUid};
use cpv4_wire::consts::{
    CK_UNAVAILABLE_INFORMATION, CKF_OS_LOCKING_OK, CKF_RW_SESSION, CKF_SERIAL_SESSION,
    CKM_CPV4_EXTRACT, CKM_CPV4_INSERT, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID,
    CKR_BUFFER_TOO_SMALL, CKR_FUNCTION_NOT_SUPPORTED, CKR_GENERAL_ERROR, CKR_OK,
};
use zeroize::Zeroizing;

use crate::types::*;

/// A `CK_RV` other than `CKR_OK`.
pub type Rv = CK_RV;

/// The result of a call to a module.
pub type CallResult<T> = Result<T, Rv>;

macro_rules! extensions {
    ($($name:ident: fn($($arg:ty),* $(,)?);)*) => {
        /// The `CA_*` functions of a module, each `None` where the module lacks it.
        #[allow(non_snake_case)]
        #[derive(Clone, Copy)]
        struct Extensions {
            $($name: Option<unsafe extern "C" fn($($arg),*) -> CK_RV>,)*
        }

        impl Extensions {
            /// This crate's own functions (their signatures are checked here against the
            /// table's, so the two cannot drift).
            fn builtin() -> Self {
                Self { $($name: Some(crate::$name),)* }
            }

            /// The functions `library` exports by name.
            fn resolve(library: &libloading::Library) -> Self {
                Self {
                    $($name: {
                        // SAFETY: the symbol, where present, is the vendor function of this
                        // name, whose C signature is the one this table declares.
                        let symbol = unsafe {
                            library.get::<unsafe extern "C" fn($($arg),*) -> CK_RV>(
                                concat!(stringify!($name), "\0").as_bytes(),
                            )
                        };
                        symbol.ok().map(|symbol| *symbol)
                    },)*
                }
            }
        }
    };
}

extensions! {
    CA_MigrationStartSessionNegotiation: fn(
        CK_SESSION_HANDLE, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR, CK_ULONG_PTR, CK_BYTE_PTR,
    );
    CA_MigrationContinueSessionNegotiation: fn(
        CK_SESSION_HANDLE, CK_ULONG, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
        CK_ULONG_PTR, CK_ULONG_PTR, CK_BYTE_PTR, CK_ULONG_PTR, CK_ULONG_PTR, CK_BYTE_PTR,
    );
    CA_MigrationCloseSession: fn(CK_SESSION_HANDLE, CK_ULONG, CK_BYTE_PTR);
    CA_Extract: fn(CK_SESSION_HANDLE, CK_MECHANISM_PTR);
    CA_Insert: fn(CK_SESSION_HANDLE, CK_MECHANISM_PTR);
    CA_MigrateKeys: fn(
        CK_SESSION_HANDLE, CK_SESSION_HANDLE, CK_ULONG, CK_ULONG, CK_OBJECT_MIGRATION_DATA_PTR,
    );
    CA_AddKCV: fn(CK_SESSION_HANDLE, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_BBOOL);
    CA_ChangeKCVLabel: fn(CK_SESSION_HANDLE, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR);
    CA_DeleteKCV: fn(CK_SESSION_HANDLE, CK_ULONG, CK_BYTE_PTR);
    CA_GetKCVLabels: fn(CK_SLOT_ID, CK_ULONG_PTR, CK_ULONG_PTR, CK_ULONG_PTR, CK_BYTE_PTR_PTR);
    CA_GetFirmwareVersion: fn(CK_SLOT_ID, CK_ULONG_PTR, CK_ULONG_PTR, CK_ULONG_PTR);
    CA_GetTime: fn(CK_SESSION_HANDLE, CK_ULONG_PTR);
    CA_GetHSMPolicySetting: fn(CK_SLOT_ID, CK_ULONG, CK_ULONG_PTR);
    CA_GetTokenPolicies: fn(CK_SLOT_ID, CK_ULONG_PTR, CK_ULONG_PTR, CK_ULONG_PTR, CK_ULONG_PTR);
    CA_SetHSMPolicy: fn(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG);
    CA_SetTokenPolicies: fn(CK_SESSION_HANDLE, CK_SLOT_ID, CK_ULONG, CK_ULONG_PTR, CK_ULONG_PTR);
}

/// Why a module could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The library could not be opened.
    Open(String),
    /// The library does not export `C_GetFunctionList`.
    NotPkcs11(String),
    /// `C_GetFunctionList` failed or returned NULL.
    FunctionList(Rv),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(why) => write!(f, "cannot open the module: {why}"),
            Self::NotPkcs11(why) => write!(f, "not a PKCS#11 module (no C_GetFunctionList): {why}"),
            Self::FunctionList(rv) => write!(f, "C_GetFunctionList returned {}", rv_label(*rv)),
        }
    }
}

impl std::error::Error for LoadError {}

/// The name of a return code (`CKR_...`), or its hex value for an unknown one.
#[must_use]
pub fn rv_label(rv: CK_RV) -> String {
    cpv4_wire::consts::rv_name(rv).map_or_else(|| format!("0x{rv:08X}"), str::to_owned)
}

/// An attribute of a template or of an object.
#[derive(Clone, PartialEq, Eq)]
pub struct Attr {
    /// `CKA_*`.
    pub type_: CK_ATTRIBUTE_TYPE,
    /// The value's bytes (a `CK_ULONG` in native byte order, a `CK_BBOOL` as one byte).
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Attr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be key material: only their length is shown.
        write!(f, "Attr(0x{:X}, {} bytes)", self.type_, self.value.len())
    }
}

impl Attr {
    /// A byte-string attribute.
    #[must_use]
    pub fn bytes(type_: CK_ATTRIBUTE_TYPE, value: impl Into<Vec<u8>>) -> Self {
        Self {
            type_,
            value: Zeroizing::new(value.into()),
        }
    }

    /// A `CK_ULONG` attribute.
    #[must_use]
    pub fn ulong(type_: CK_ATTRIBUTE_TYPE, value: CK_ULONG) -> Self {
        Self::bytes(type_, value.to_ne_bytes().to_vec())
    }

    /// A `CK_BBOOL` attribute.
    #[must_use]
    pub fn bool(type_: CK_ATTRIBUTE_TYPE, value: bool) -> Self {
        Self::bytes(type_, vec![u8::from(value)])
    }
}

/// Reads a `CK_ULONG` attribute value.
#[must_use]
pub fn ulong_value(bytes: &[u8]) -> Option<CK_ULONG> {
    Some(CK_ULONG::from_ne_bytes(bytes.try_into().ok()?))
}

/// A mechanism and its parameter.
#[derive(Debug, Clone)]
pub enum Mechanism {
    /// A mechanism without a parameter.
    Plain(CK_MECHANISM_TYPE),
    /// A mechanism whose parameter is a byte string (an IV, an EC parameter).
    Bytes(CK_MECHANISM_TYPE, Vec<u8>),
    /// `CKM_AES_GCM` with its IV, additional data and tag length in bits.
    AesGcm {
        /// The IV.
        iv: Vec<u8>,
        /// The additional authenticated data.
        aad: Vec<u8>,
        /// The tag length in bits.
        tag_bits: CK_ULONG,
    },
}

/// What `C_GetTokenInfo` says of a token, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token label.
    pub label: String,
    /// The manufacturer.
    pub manufacturer: String,
    /// The model.
    pub model: String,
    /// The serial number.
    pub serial: String,
}

/// A PKCS#11 module and its `CA_*` extensions.
pub struct Module {
    list: *const CK_FUNCTION_LIST,
    extensions: Extensions,
    // Last: the function pointers above point into the library, which must outlive them.
    _library: Option<libloading::Library>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("builtin", &self._library.is_none())
            .finish_non_exhaustive()
    }
}

fn check(rv: CK_RV) -> CallResult<()> {
    if rv == CKR_OK { Ok(()) } else { Err(rv) }
}

fn present<T>(function: Option<T>) -> CallResult<T> {
    function.ok_or(CKR_FUNCTION_NOT_SUPPORTED)
}

fn ulong(len: usize) -> CallResult<CK_ULONG> {
    CK_ULONG::try_from(len).map_err(|_| CKR_GENERAL_ERROR)
}

/// A call-level failure is one that names no object: a call that stopped at an object has
/// that object's code in its results, and its outcome is the results.
fn per_object(rv: CK_RV, results: &[CK_RV]) -> CallResult<()> {
    let failed_object = results
        .iter()
        .any(|&r| r != CKR_OK && r != cpv4_wire::consts::CKR_CLONE_NOT_ATTEMPTED);
    if rv == CKR_OK || failed_object {
        Ok(())
    } else {
        Err(rv)
    }
}

fn size(len: CK_ULONG) -> CallResult<usize> {
    usize::try_from(len).map_err(|_| CKR_GENERAL_ERROR)
}

/// A mutable pointer to the bytes of `slice` (NULL for an empty one), for inputs the module
/// only reads but declares as `CK_BYTE_PTR`.
fn input_ptr(slice: &[u8]) -> CK_BYTE_PTR {
    if slice.is_empty() {
        ptr::null_mut()
    } else {
        slice.as_ptr().cast_mut()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_owned()
}

/// A template as `CK_ATTRIBUTE`s pointing into `attrs`.
fn template(attrs: &[Attr]) -> CallResult<Vec<CK_ATTRIBUTE>> {
    attrs
        .iter()
        .map(|attr| {
            Ok(CK_ATTRIBUTE {
                type_: attr.type_,
                pValue: input_ptr(&attr.value).cast::<c_void>(),
                ulValueLen: ulong(attr.value.len())?,
            })
        })
        .collect()
}

impl Module {
    /// This crate's module, linked into the program: the simulator, with nothing to
    /// configure.
    #[must_use]
    pub fn builtin() -> Self {
        Self {
            list: &crate::FUNCTION_LIST,
            extensions: Extensions::builtin(),
            _library: None,
        }
    }

    /// Loads the module at `path` (a Luna client library, or this crate's `.so`).
    ///
    /// # Errors
    ///
    /// [`LoadError`] if the library cannot be opened or is not a PKCS#11 module.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        // SAFETY: loading a library runs its initialisers; a PKCS#11 module is loaded to be
        // called, and the caller names the module it trusts.
        let library = unsafe { libloading::Library::new(path) }
            .map_err(|e| LoadError::Open(e.to_string()))?;
        // SAFETY: `C_GetFunctionList` has this signature in every PKCS#11 module.
        let get_list = unsafe {
            library.get::<unsafe extern "C" fn(CK_FUNCTION_LIST_PTR_PTR) -> CK_RV>(
                b"C_GetFunctionList\0",
            )
        }
        .map_err(|e| LoadError::NotPkcs11(e.to_string()))?;
        let mut list: CK_FUNCTION_LIST_PTR = ptr::null_mut();
        // SAFETY: `list` is a writable pointer slot.
        let rv = unsafe { get_list(&raw mut list) };
        if rv != CKR_OK {
            return Err(LoadError::FunctionList(rv));
        }
        if list.is_null() {
            return Err(LoadError::FunctionList(CKR_GENERAL_ERROR));
        }
        let extensions = Extensions::resolve(&library);
        Ok(Self {
            list,
            extensions,
            _library: Some(library),
        })
    }

    fn functions(&self) -> &CK_FUNCTION_LIST {
        // SAFETY: `list` is this crate's static list or the one a loaded module returned,
        // which stays valid while the library (held by `self`) is loaded.
        unsafe { &*self.list }
    }

    /// Whether the module exports `CA_MigrateKeys` (a module with CPv4 cloning).
    #[must_use]
    pub fn has_cloning(&self) -> bool {
        self.extensions.CA_MigrateKeys.is_some()
    }

    /// `C_Initialize` with `CKF_OS_LOCKING_OK`; a module that is already initialised is
    /// accepted.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn initialize(&self) -> CallResult<()> {
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: ptr::null_mut(),
        };
        let initialize = present(self.functions().C_Initialize)?;
        // SAFETY: `args` is a valid CK_C_INITIALIZE_ARGS for the duration of the call.
        let rv = unsafe { initialize((&raw mut args).cast::<c_void>()) };
        if rv == cpv4_wire::consts::CKR_CRYPTOKI_ALREADY_INITIALIZED {
            return Ok(());
        }
        check(rv)
    }

    /// `C_Finalize`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn finalize(&self) -> CallResult<()> {
        let finalize = present(self.functions().C_Finalize)?;
        // SAFETY: NULL is the reserved argument.
        check(unsafe { finalize(ptr::null_mut()) })
    }

    /// `C_GetSlotList` of the slots with a token.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn slots(&self) -> CallResult<Vec<CK_SLOT_ID>> {
        let get = present(self.functions().C_GetSlotList)?;
        loop {
            let mut count: CK_ULONG = 0;
            // SAFETY: a length query: NULL list, writable count.
            check(unsafe { get(1, ptr::null_mut(), &raw mut count) })?;
            let mut slots = vec![0; size(count)?];
            // SAFETY: `slots` holds `count` writable slot IDs.
            let rv = unsafe { get(1, slots.as_mut_ptr(), &raw mut count) };
            if rv == CKR_BUFFER_TOO_SMALL {
                continue;
            }
            check(rv)?;
            slots.truncate(size(count)?);
            return Ok(slots);
        }
    }

    /// `C_GetTokenInfo`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn token_info(&self, slot: CK_SLOT_ID) -> CallResult<TokenInfo> {
        let get = present(self.functions().C_GetTokenInfo)?;
        let mut info = std::mem::MaybeUninit::<CK_TOKEN_INFO>::zeroed();
        // SAFETY: `info` is writable for one CK_TOKEN_INFO.
        check(unsafe { get(slot, info.as_mut_ptr()) })?;
        // SAFETY: the module filled it (and all-zero is a valid value of this plain struct).
        let info = unsafe { info.assume_init() };
        Ok(TokenInfo {
            label: text(&info.label),
            manufacturer: text(&info.manufacturerID),
            model: text(&info.model),
            serial: text(&info.serialNumber),
        })
    }

    /// `C_OpenSession` (serial; read-write if `read_write`).
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn open_session(
        &self,
        slot: CK_SLOT_ID,
        read_write: bool,
    ) -> CallResult<CK_SESSION_HANDLE> {
        let open = present(self.functions().C_OpenSession)?;
        let flags = CKF_SERIAL_SESSION | if read_write { CKF_RW_SESSION } else { 0 };
        let mut session: CK_SESSION_HANDLE = 0;
        // SAFETY: no callback; `session` is writable.
        check(unsafe { open(slot, flags, ptr::null_mut(), None, &raw mut session) })?;
        Ok(session)
    }

    /// `C_CloseSession`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn close_session(&self, session: CK_SESSION_HANDLE) -> CallResult<()> {
        let close = present(self.functions().C_CloseSession)?;
        // SAFETY: plain values.
        check(unsafe { close(session) })
    }

    /// `C_Login`; a session whose application is already logged in is accepted.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn login(
        &self,
        session: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> CallResult<()> {
        let login = present(self.functions().C_Login)?;
        // SAFETY: `pin` is readable for its length; the module does not write it.
        let rv = unsafe { login(session, user, input_ptr(pin), ulong(pin.len())?) };
        if rv == cpv4_wire::consts::CKR_USER_ALREADY_LOGGED_IN {
            return Ok(());
        }
        check(rv)
    }

    /// Calls `each` with the handles of the objects matching `attrs`, a chunk of at most
    /// `chunk` at a time, so a large token is walked in bounded memory.
    ///
    /// # Errors
    ///
    /// The module's code, or the error of `each` (the search is finished either way).
    pub fn find_each(
        &self,
        session: CK_SESSION_HANDLE,
        attrs: &[Attr],
        chunk: usize,
        mut each: impl FnMut(&[CK_OBJECT_HANDLE]) -> CallResult<()>,
    ) -> CallResult<()> {
        let functions = self.functions();
        let (init, find, fin) = (
            present(functions.C_FindObjectsInit)?,
            present(functions.C_FindObjects)?,
            present(functions.C_FindObjectsFinal)?,
        );
        let mut template = template(attrs)?;
        // SAFETY: `template` points into `attrs`, both alive for the call.
        check(unsafe { init(session, template.as_mut_ptr(), ulong(template.len())?) })?;
        let mut handles = vec![0; chunk.max(1)];
        let result = (|| loop {
            let mut found: CK_ULONG = 0;
            // SAFETY: `handles` is writable for its length; `found` is writable.
            check(unsafe {
                find(
                    session,
                    handles.as_mut_ptr(),
                    ulong(handles.len())?,
                    &raw mut found,
                )
            })?;
            let found = size(found)?.min(handles.len());
            if found == 0 {
                return Ok(());
            }
            each(handles.get(..found).unwrap_or_default())?;
        })();
        // SAFETY: plain value.
        let finished = check(unsafe { fin(session) });
        result.and(finished)
    }

    /// Every object matching `attrs`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn find(
        &self,
        session: CK_SESSION_HANDLE,
        attrs: &[Attr],
    ) -> CallResult<Vec<CK_OBJECT_HANDLE>> {
        let mut all = Vec::new();
        self.find_each(session, attrs, 256, |chunk| {
            all.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(all)
    }

    /// One attribute of an object: `None` if the object has none of that type or it cannot
    /// be read (sensitive).
    ///
    /// # Errors
    ///
    /// The module's code for any other failure.
    pub fn attribute(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        type_: CK_ATTRIBUTE_TYPE,
    ) -> CallResult<Option<Zeroizing<Vec<u8>>>> {
        let get = present(self.functions().C_GetAttributeValue)?;
        let mut attr = CK_ATTRIBUTE {
            type_,
            pValue: ptr::null_mut(),
            ulValueLen: 0,
        };
        // SAFETY: a length query on one writable CK_ATTRIBUTE.
        let rv = unsafe { get(session, object, &raw mut attr, 1) };
        if rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID {
            return Ok(None);
        }
        check(rv)?;
        if attr.ulValueLen == CK_UNAVAILABLE_INFORMATION {
            return Ok(None);
        }
        let mut value = Zeroizing::new(vec![0u8; size(attr.ulValueLen)?]);
        attr.pValue = value.as_mut_ptr().cast::<c_void>();
        // SAFETY: `value` is writable for `ulValueLen` bytes.
        check(unsafe { get(session, object, &raw mut attr, 1) })?;
        value.truncate(size(attr.ulValueLen)?);
        Ok(Some(value))
    }

    /// `C_CreateObject`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn create_object(
        &self,
        session: CK_SESSION_HANDLE,
        attrs: &[Attr],
    ) -> CallResult<CK_OBJECT_HANDLE> {
        let create = present(self.functions().C_CreateObject)?;
        let mut template = template(attrs)?;
        let mut handle = 0;
        // SAFETY: `template` points into `attrs`; `handle` is writable.
        check(unsafe {
            create(
                session,
                template.as_mut_ptr(),
                ulong(template.len())?,
                &raw mut handle,
            )
        })?;
        Ok(handle)
    }

    /// `C_DestroyObject`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn destroy_object(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> CallResult<()> {
        let destroy = present(self.functions().C_DestroyObject)?;
        // SAFETY: plain values.
        check(unsafe { destroy(session, object) })
    }

    /// `C_GenerateKey`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn generate_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        attrs: &[Attr],
    ) -> CallResult<CK_OBJECT_HANDLE> {
        let generate = present(self.functions().C_GenerateKey)?;
        let mut template = template(attrs)?;
        let mut handle = 0;
        with_mechanism(mechanism, |mechanism| {
            // SAFETY: `mechanism` and `template` are valid for the call; `handle` writable.
            check(unsafe {
                generate(
                    session,
                    mechanism,
                    template.as_mut_ptr(),
                    ulong(template.len())?,
                    &raw mut handle,
                )
            })
        })?;
        Ok(handle)
    }

    /// `C_GenerateKeyPair`: the public and the private key.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn generate_key_pair(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        public: &[Attr],
        private: &[Attr],
    ) -> CallResult<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let generate = present(self.functions().C_GenerateKeyPair)?;
        let mut public = template(public)?;
        let mut private = template(private)?;
        let (mut public_key, mut private_key) = (0, 0);
        with_mechanism(mechanism, |mechanism| {
            // SAFETY: the mechanism and both templates are valid for the call; the two
            // handles are writable.
            check(unsafe {
                generate(
                    session,
                    mechanism,
                    public.as_mut_ptr(),
                    ulong(public.len())?,
                    private.as_mut_ptr(),
                    ulong(private.len())?,
                    &raw mut public_key,
                    &raw mut private_key,
                )
            })
        })?;
        Ok((public_key, private_key))
    }

    /// `C_EncryptInit` and `C_Encrypt`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn encrypt(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
    ) -> CallResult<Vec<u8>> {
        let functions = self.functions();
        let init = present(functions.C_EncryptInit)?;
        let encrypt = present(functions.C_Encrypt)?;
        with_mechanism(mechanism, |mechanism| {
            // SAFETY: the mechanism is valid for the call.
            check(unsafe { init(session, mechanism, key) })
        })?;
        let output = one_shot(ulong(data.len())?, |data_len, out, out_len| {
            // SAFETY: `data` is readable; `out` is NULL or writable for `*out_len` bytes.
            unsafe { encrypt(session, input_ptr(data), data_len, out, out_len) }
        })?;
        Ok(output.to_vec())
    }

    /// `C_DecryptInit` and `C_Decrypt`; the plaintext is wiped when dropped.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn decrypt(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
    ) -> CallResult<Zeroizing<Vec<u8>>> {
        let functions = self.functions();
        let init = present(functions.C_DecryptInit)?;
        let decrypt = present(functions.C_Decrypt)?;
        with_mechanism(mechanism, |mechanism| {
            // SAFETY: the mechanism is valid for the call.
            check(unsafe { init(session, mechanism, key) })
        })?;
        one_shot(ulong(data.len())?, |data_len, out, out_len| {
            // SAFETY: `data` is readable; `out` is NULL or writable for `*out_len` bytes.
            unsafe { decrypt(session, input_ptr(data), data_len, out, out_len) }
        })
    }

    /// `C_SignInit` and `C_Sign`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn sign(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
    ) -> CallResult<Vec<u8>> {
        let functions = self.functions();
        let init = present(functions.C_SignInit)?;
        let sign = present(functions.C_Sign)?;
        with_mechanism(mechanism, |mechanism| {
            // SAFETY: the mechanism is valid for the call.
            check(unsafe { init(session, mechanism, key) })
        })?;
        let output = one_shot(ulong(data.len())?, |data_len, out, out_len| {
            // SAFETY: `data` is readable; `out` is NULL or writable for `*out_len` bytes.
            unsafe { sign(session, input_ptr(data), data_len, out, out_len) }
        })?;
        Ok(output.to_vec())
    }

    /// `C_VerifyInit` and `C_Verify`: `Ok` if the signature verifies.
    ///
    /// # Errors
    ///
    /// The module's code (`CKR_SIGNATURE_INVALID`...).
    pub fn verify(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
        signature: &[u8],
    ) -> CallResult<()> {
        let functions = self.functions();
        let init = present(functions.C_VerifyInit)?;
        let verify = present(functions.C_Verify)?;
        with_mechanism(mechanism, |mechanism| {
            // SAFETY: the mechanism is valid for the call.
            check(unsafe { init(session, mechanism, key) })
        })?;
        // SAFETY: both buffers are readable for their lengths.
        check(unsafe {
            verify(
                session,
                input_ptr(data),
                ulong(data.len())?,
                input_ptr(signature),
                ulong(signature.len())?,
            )
        })
    }

    /// `C_WrapKey`: `key` wrapped under `wrapping`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn wrap_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
    ) -> CallResult<Vec<u8>> {
        let wrap = present(self.functions().C_WrapKey)?;
        with_mechanism(mechanism, |mechanism| {
            let wrapped = one_shot(0, |_, out, out_len| {
                // SAFETY: the mechanism is valid for the call; `out` is NULL or writable
                // for `*out_len` bytes.
                unsafe { wrap(session, mechanism, wrapping, key, out, out_len) }
            })?;
            Ok(wrapped.to_vec())
        })
    }

    /// `C_UnwrapKey`: the key `wrapped` holds, made with `attrs`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn unwrap_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        attrs: &[Attr],
    ) -> CallResult<CK_OBJECT_HANDLE> {
        let unwrap = present(self.functions().C_UnwrapKey)?;
        let mut template = template(attrs)?;
        let mut handle = 0;
        with_mechanism(mechanism, |mechanism| {
            // SAFETY: the mechanism, `wrapped` and `template` are valid for the call;
            // `handle` is writable.
            check(unsafe {
                unwrap(
                    session,
                    mechanism,
                    unwrapping,
                    input_ptr(wrapped),
                    ulong(wrapped.len())?,
                    template.as_mut_ptr(),
                    ulong(template.len())?,
                    &raw mut handle,
                )
            })
        })?;
        Ok(handle)
    }

    /// `C_InitToken`: (re)initialises the token of `slot` with the SO PIN and a label
    /// (padded with spaces to 32 bytes).
    ///
    /// # Errors
    ///
    /// The module's code; `CKR_ARGUMENTS_BAD` for a label longer than 32 bytes.
    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> CallResult<()> {
        let init = present(self.functions().C_InitToken)?;
        let mut padded = [b' '; 32];
        padded
            .get_mut(..label.len())
            .ok_or(cpv4_wire::consts::CKR_ARGUMENTS_BAD)?
            .copy_from_slice(label.as_bytes());
        // SAFETY: the PIN is readable for its length, the label for 32 bytes; the module
        // writes neither.
        check(unsafe {
            init(
                slot,
                input_ptr(so_pin),
                ulong(so_pin.len())?,
                padded.as_mut_ptr(),
            )
        })
    }

    /// `C_InitPIN` on a session logged in as the SO: sets the user's PIN.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn init_pin(&self, session: CK_SESSION_HANDLE, pin: &[u8]) -> CallResult<()> {
        let init = present(self.functions().C_InitPIN)?;
        // SAFETY: the PIN is readable for its length; the module does not write it.
        check(unsafe { init(session, input_ptr(pin), ulong(pin.len())?) })
    }

    /// `C_Logout`.
    ///
    /// # Errors
    ///
    /// The module's code.
    pub fn logout(&self, session: CK_SESSION_HANDLE) -> CallResult<()> {
        let logout = present(self.functions().C_Logout)?;
        // SAFETY: plain value.
        check(unsafe { logout(session) })
    }

    /// `CA_MigrateKeys` on `objects`, whose `targetHandle` and `rv` it fills.
    ///
    /// # Errors
    ///
    /// The call's code (per-object codes are in `objects`).
    pub fn migrate_keys(
        &self,
        source: CK_SESSION_HANDLE,
        target: CK_SESSION_HANDLE,
        flags: CK_ULONG,
        objects: &mut [CK_OBJECT_MIGRATION_DATA],
    ) -> CallResult<()> {
        let migrate = present(self.extensions.CA_MigrateKeys)?;
        // SAFETY: `objects` is writable for its length.
        check(unsafe {
            migrate(
                source,
                target,
                flags,
                ulong(objects.len())?,
                objects.as_mut_ptr(),
            )
        })
    }

    /// `CA_MigrationStartSessionNegotiation`: the Offer.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn cpv4_start(&self, session: CK_SESSION_HANDLE) -> CallResult<Vec<u8>> {
        let start = present(self.extensions.CA_MigrationStartSessionNegotiation)?;
        let mut step: CK_ULONG = 0;
        let mut len: CK_ULONG = 0;
        // SAFETY: a size query: NULL output, writable step and length.
        check(unsafe {
            start(
                session,
                0,
                ptr::null_mut(),
                &raw mut step,
                &raw mut len,
                ptr::null_mut(),
            )
        })?;
        let mut output = vec![0u8; size(len)?];
        // SAFETY: `output` is writable for `len` bytes.
        check(unsafe {
            start(
                session,
                0,
                ptr::null_mut(),
                &raw mut step,
                &raw mut len,
                output.as_mut_ptr(),
            )
        })?;
        output.truncate(size(len)?);
        Ok(output)
    }

    /// `CA_MigrationContinueSessionNegotiation` at `step` with the peer's message.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn cpv4_continue(
        &self,
        session: CK_SESSION_HANDLE,
        step: CK_ULONG,
        input: &[u8],
        uid: Option<&SessionUid>,
    ) -> CallResult<Continued> {
        let continue_ = present(self.extensions.CA_MigrationContinueSessionNegotiation)?;
        let uid_in: &[u8] = uid.map_or(&[], |uid| uid.0.as_slice());
        // The outputs are queried together (A28): the size query passes both buffers NULL.
        let call = |output: CK_BYTE_PTR,
                    uid_out: CK_BYTE_PTR,
                    len: &mut CK_ULONG,
                    out_step: &mut CK_ULONG,
                    uid_len: &mut CK_ULONG| {
            let mut status: CK_ULONG = 0;
            // SAFETY: the inputs are readable for their lengths; `output` and `uid_out` are
            // both NULL (a size query) or writable for `*len` and `*uid_len` bytes; the other
            // outputs are writable.
            check(unsafe {
                continue_(
                    session,
                    step,
                    ulong(input.len())?,
                    input_ptr(input),
                    ulong(uid_in.len())?,
                    input_ptr(uid_in),
                    out_step,
                    len,
                    output,
                    &raw mut status,
                    uid_len,
                    uid_out,
                )
            })
        };
        let (mut len, mut out_step, mut uid_len) = (0, 0, 16);
        let mut uid_out = [0u8; 16];
        call(
            ptr::null_mut(),
            ptr::null_mut(),
            &mut len,
            &mut out_step,
            &mut uid_len,
        )?;
        let mut output = vec![0u8; size(len)?.max(1)];
        uid_len = 16;
        call(
            output.as_mut_ptr(),
            uid_out.as_mut_ptr(),
            &mut len,
            &mut out_step,
            &mut uid_len,
        )?;
        output.truncate(size(len)?);
        Ok(Continued {
            step: out_step,
            output,
            uid: SessionUid(uid_out),
        })
    }

    /// `CA_MigrationCloseSession`.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn cpv4_close(&self, session: CK_SESSION_HANDLE, uid: &SessionUid) -> CallResult<()> {
        let close = present(self.extensions.CA_MigrationCloseSession)?;
        // SAFETY: the UID is readable for its 16 bytes.
        check(unsafe { close(session, 16, input_ptr(&uid.0)) })
    }

    /// `CA_Extract` of `objects` (`(objectType, handle)`), `input` the Confirm on the
    /// session's first call.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn cpv4_extract(
        &self,
        session: CK_SESSION_HANDLE,
        uid: &SessionUid,
        input: &[u8],
        flags: CK_ULONG,
        objects: &[(CK_ULONG, CK_OBJECT_HANDLE)],
    ) -> CallResult<Extraction> {
        let extract = present(self.extensions.CA_Extract)?;
        let count = objects.len();
        let mut types: Vec<CK_ULONG> = objects.iter().map(|o| o.0).collect();
        let mut handles: Vec<CK_ULONG> = objects.iter().map(|o| o.1).collect();
        let mut results = vec![0; count];
        let mut lens = vec![0; count];
        let mut pointers: Vec<CK_BYTE_PTR> = vec![ptr::null_mut(); count];
        let call = |input: &[u8],
                    results: &mut [CK_RV],
                    lens: &mut [CK_ULONG],
                    pointers: &mut [CK_BYTE_PTR],
                    types: &mut [CK_ULONG],
                    handles: &mut [CK_ULONG]|
         -> CallResult<CK_RV> {
            let mut params = CK_CPV4_EXTRACT_PARAMS {
                inputLength: ulong(input.len())?,
                input: input_ptr(input),
                sessionOuidLen: 16,
                sessionOuid: input_ptr(&uid.0),
                extractionFlags: flags,
                numberOfObjects: ulong(count)?,
                objectType: types.as_mut_ptr(),
                objectHandle: handles.as_mut_ptr(),
                result: results.as_mut_ptr(),
                keyBlobLen: lens.as_mut_ptr(),
                keyBlob: pointers.as_mut_ptr(),
            };
            let mut mechanism = CK_MECHANISM {
                mechanism: CKM_CPV4_EXTRACT,
                pParameter: (&raw mut params).cast::<c_void>(),
                ulParameterLen: ulong(size_of::<CK_CPV4_EXTRACT_PARAMS>())?,
            };
            // SAFETY: every array holds `count` elements; each blob pointer is NULL (a size
            // query) or writable for its `keyBlobLen`.
            Ok(unsafe { extract(session, &raw mut mechanism) })
        };
        // The size query: every blob pointer NULL, and the Confirm if this is the session's
        // first call. An object it fails gets a one-byte buffer (all pointers must be set),
        // and the real call reports it again.
        per_object(
            call(
                input,
                &mut results,
                &mut lens,
                &mut pointers,
                &mut types,
                &mut handles,
            )?,
            &results,
        )?;
        let mut blobs: Vec<Vec<u8>> = lens
            .iter()
            .zip(&results)
            .map(|(&len, &result)| {
                let len = if result == CKR_OK { size(len)? } else { 1 };
                Ok(vec![0u8; len])
            })
            .collect::<CallResult<_>>()?;
        for (len, blob) in lens.iter_mut().zip(&blobs) {
            *len = ulong(blob.len())?;
        }
        for (pointer, blob) in pointers.iter_mut().zip(&mut blobs) {
            *pointer = if blob.is_empty() {
                ptr::null_mut()
            } else {
                blob.as_mut_ptr()
            };
        }
        // The size query consumed the Confirm (register A28): the real call carries none.
        let rv = call(
            &[],
            &mut results,
            &mut lens,
            &mut pointers,
            &mut types,
            &mut handles,
        )?;
        per_object(rv, &results)?;
        let blobs = blobs
            .into_iter()
            .zip(&results)
            .zip(&lens)
            .map(|((mut blob, &result), &len)| {
                (result == CKR_OK).then(|| {
                    blob.truncate(size(len).unwrap_or(0));
                    blob
                })
            })
            .collect();
        Ok(Extraction { results, blobs })
    }

    /// `CA_Insert` of `blobs` (`(objectType, storageType, blob)`).
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn cpv4_insert(
        &self,
        session: CK_SESSION_HANDLE,
        uid: &SessionUid,
        flags: CK_ULONG,
        blobs: &[(CK_ULONG, CK_ULONG, &[u8])],
    ) -> CallResult<Insertion> {
        let insert = present(self.extensions.CA_Insert)?;
        let count = blobs.len();
        let mut types: Vec<CK_ULONG> = blobs.iter().map(|b| b.0).collect();
        let mut storage: Vec<CK_ULONG> = blobs.iter().map(|b| b.1).collect();
        let mut lens: Vec<CK_ULONG> = blobs
            .iter()
            .map(|b| ulong(b.2.len()))
            .collect::<CallResult<_>>()?;
        let mut pointers: Vec<CK_BYTE_PTR> = blobs.iter().map(|b| input_ptr(b.2)).collect();
        let mut results = vec![0; count];
        let mut handles = vec![0; count];
        let mut params = CK_CPV4_INSERT_PARAMS {
            inputLength: 0,
            input: ptr::null_mut(),
            sessionOuidLen: 16,
            sessionOuid: input_ptr(&uid.0),
            insertionFlags: flags,
            numberOfObjects: ulong(count)?,
            objectType: types.as_mut_ptr(),
            storageType: storage.as_mut_ptr(),
            keyBlobLen: lens.as_mut_ptr(),
            keyBlob: pointers.as_mut_ptr(),
            result: results.as_mut_ptr(),
            objectHandle: handles.as_mut_ptr(),
        };
        let mut mechanism = CK_MECHANISM {
            mechanism: CKM_CPV4_INSERT,
            pParameter: (&raw mut params).cast::<c_void>(),
            ulParameterLen: ulong(size_of::<CK_CPV4_INSERT_PARAMS>())?,
        };
        // SAFETY: every array holds `count` elements, each blob readable for its length.
        let rv = unsafe { insert(session, &raw mut mechanism) };
        per_object(rv, &results)?;
        Ok(Insertion { results, handles })
    }

    /// `CA_GetKCVLabels`: the partition's domain labels, primary first.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn kcv_labels(&self, slot: CK_SLOT_ID) -> CallResult<Vec<String>> {
        let get = present(self.extensions.CA_GetKCVLabels)?;
        loop {
            let mut count: CK_ULONG = 0;
            // SAFETY: a count query: only `count` is read and written.
            check(unsafe {
                get(
                    slot,
                    &raw mut count,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            })?;
            if count == 0 {
                return Ok(Vec::new());
            }
            let n = size(count)?;
            let mut buffers = vec![[0u8; 32]; n];
            let mut pointers: Vec<CK_BYTE_PTR> =
                buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let mut lens = vec![0; n];
            // SAFETY: both arrays hold `count` elements, each buffer 32 writable bytes.
            let rv = unsafe {
                get(
                    slot,
                    &raw mut count,
                    ptr::null_mut(),
                    lens.as_mut_ptr(),
                    pointers.as_mut_ptr(),
                )
            };
            if rv == CKR_BUFFER_TOO_SMALL {
                continue;
            }
            check(rv)?;
            return buffers
                .iter()
                .zip(&lens)
                .take(size(count)?)
                .map(|(buffer, &len)| {
                    let len = size(len)?.min(32);
                    Ok(String::from_utf8_lossy(buffer.get(..len).unwrap_or_default()).into_owned())
                })
                .collect();
        }
    }

    /// `CA_AddKCV`: adds a cloning domain from its secret, `primary` to make it the
    /// partition's primary domain.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn add_kcv(
        &self,
        session: CK_SESSION_HANDLE,
        secret: &[u8],
        label: &str,
        primary: bool,
    ) -> CallResult<()> {
        let add = present(self.extensions.CA_AddKCV)?;
        // SAFETY: both inputs are readable for their lengths.
        check(unsafe {
            add(
                session,
                ulong(secret.len())?,
                input_ptr(secret),
                ulong(label.len())?,
                input_ptr(label.as_bytes()),
                u8::from(primary),
            )
        })
    }

    /// `CA_ChangeKCVLabel`.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn change_kcv_label(
        &self,
        session: CK_SESSION_HANDLE,
        old: &str,
        new: &str,
    ) -> CallResult<()> {
        let change = present(self.extensions.CA_ChangeKCVLabel)?;
        // SAFETY: both labels are readable for their lengths.
        check(unsafe {
            change(
                session,
                ulong(old.len())?,
                input_ptr(old.as_bytes()),
                ulong(new.len())?,
                input_ptr(new.as_bytes()),
            )
        })
    }

    /// `CA_DeleteKCV`.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn delete_kcv(&self, session: CK_SESSION_HANDLE, label: &str) -> CallResult<()> {
        let delete = present(self.extensions.CA_DeleteKCV)?;
        // SAFETY: the label is readable for its length.
        check(unsafe { delete(session, ulong(label.len())?, input_ptr(label.as_bytes())) })
    }

    /// `CA_GetFirmwareVersion`: major, minor, subminor.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn firmware(&self, slot: CK_SLOT_ID) -> CallResult<(CK_ULONG, CK_ULONG, CK_ULONG)> {
        let get = present(self.extensions.CA_GetFirmwareVersion)?;
        let (mut major, mut minor, mut sub) = (0, 0, 0);
        // SAFETY: three writable CK_ULONGs.
        check(unsafe { get(slot, &raw mut major, &raw mut minor, &raw mut sub) })?;
        Ok((major, minor, sub))
    }

    /// `CA_GetTime`: the HSM's clock, in seconds since the epoch.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn hsm_time(&self, session: CK_SESSION_HANDLE) -> CallResult<CK_ULONG> {
        let get = present(self.extensions.CA_GetTime)?;
        let mut time = 0;
        // SAFETY: one writable CK_ULONG.
        check(unsafe { get(session, &raw mut time) })?;
        Ok(time)
    }

    /// `CA_GetHSMPolicySetting`.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn hsm_policy(&self, slot: CK_SLOT_ID, policy: CK_ULONG) -> CallResult<CK_ULONG> {
        let get = present(self.extensions.CA_GetHSMPolicySetting)?;
        let mut value = 0;
        // SAFETY: one writable CK_ULONG.
        check(unsafe { get(slot, policy, &raw mut value) })?;
        Ok(value)
    }

    /// `CA_GetTokenPolicies`: `(id, value)` pairs.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn token_policies(&self, slot: CK_SLOT_ID) -> CallResult<Vec<(CK_ULONG, CK_ULONG)>> {
        let get = present(self.extensions.CA_GetTokenPolicies)?;
        loop {
            let (mut ids_len, mut values_len) = (0, 0);
            // SAFETY: a length query: NULL arrays, writable lengths.
            check(unsafe {
                get(
                    slot,
                    ptr::null_mut(),
                    &raw mut ids_len,
                    ptr::null_mut(),
                    &raw mut values_len,
                )
            })?;
            let mut ids = vec![0; size(ids_len)?];
            let mut values = vec![0; size(values_len)?];
            // SAFETY: both arrays are writable for their lengths.
            let rv = unsafe {
                get(
                    slot,
                    ids.as_mut_ptr(),
                    &raw mut ids_len,
                    values.as_mut_ptr(),
                    &raw mut values_len,
                )
            };
            if rv == CKR_BUFFER_TOO_SMALL {
                continue;
            }
            check(rv)?;
            return Ok(ids
                .into_iter()
                .zip(values)
                .take(size(ids_len.min(values_len))?)
                .collect());
        }
    }

    /// `CA_SetHSMPolicy`.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn set_hsm_policy(
        &self,
        session: CK_SESSION_HANDLE,
        policy: CK_ULONG,
        value: CK_ULONG,
    ) -> CallResult<()> {
        let set = present(self.extensions.CA_SetHSMPolicy)?;
        // SAFETY: plain values.
        check(unsafe { set(session, policy, value) })
    }

    /// `CA_SetTokenPolicies` of `(id, value)` pairs.
    ///
    /// # Errors
    ///
    /// The call's code.
    pub fn set_token_policies(
        &self,
        session: CK_SESSION_HANDLE,
        slot: CK_SLOT_ID,
        policies: &[(CK_ULONG, CK_ULONG)],
    ) -> CallResult<()> {
        let set = present(self.extensions.CA_SetTokenPolicies)?;
        let mut ids: Vec<CK_ULONG> = policies.iter().map(|p| p.0).collect();
        let mut values: Vec<CK_ULONG> = policies.iter().map(|p| p.1).collect();
        // SAFETY: both arrays hold `policies.len()` readable values.
        check(unsafe {
            set(
                session,
                slot,
                ulong(ids.len())?,
                ids.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        })
    }
}

/// Runs `call` with `mechanism` as a `CK_MECHANISM` (and its parameter structure) that lives
/// for the call.
fn with_mechanism<T>(
    mechanism: &Mechanism,
    call: impl FnOnce(CK_MECHANISM_PTR) -> CallResult<T>,
) -> CallResult<T> {
    match mechanism {
        Mechanism::Plain(type_) => {
            let mut raw = CK_MECHANISM {
                mechanism: *type_,
                pParameter: ptr::null_mut(),
                ulParameterLen: 0,
            };
            call(&raw mut raw)
        }
        Mechanism::Bytes(type_, parameter) => {
            let mut raw = CK_MECHANISM {
                mechanism: *type_,
                pParameter: input_ptr(parameter).cast::<c_void>(),
                ulParameterLen: ulong(parameter.len())?,
            };
            call(&raw mut raw)
        }
        Mechanism::AesGcm { iv, aad, tag_bits } => {
            let mut params = CK_GCM_PARAMS {
                pIv: input_ptr(iv),
                ulIvLen: ulong(iv.len())?,
                ulIvBits: ulong(iv.len().saturating_mul(8))?,
                pAAD: input_ptr(aad),
                ulAADLen: ulong(aad.len())?,
                ulTagBits: *tag_bits,
            };
            let mut raw = CK_MECHANISM {
                mechanism: cpv4_wire::consts::CKM_AES_GCM,
                pParameter: (&raw mut params).cast::<c_void>(),
                ulParameterLen: ulong(size_of::<CK_GCM_PARAMS>())?,
            };
            call(&raw mut raw)
        }
    }
}

/// A one-shot output call (`C_Encrypt`, `C_Sign`...): the length query, then the call into a
/// buffer of that size.
fn one_shot(
    data_len: CK_ULONG,
    mut call: impl FnMut(CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) -> CK_RV,
) -> CallResult<Zeroizing<Vec<u8>>> {
    let mut len: CK_ULONG = 0;
    check(call(data_len, ptr::null_mut(), &raw mut len))?;
    let mut output = Zeroizing::new(vec![0u8; size(len)?]);
    check(call(data_len, output.as_mut_ptr(), &raw mut len))?;
    output.truncate(size(len)?);
    Ok(output)
}

/// One partition reached through a module's `CA_*` calls on one session: the endpoint of the
/// shared migration flow ([`cpv4_migrate::migrate_keys`]) on this side of a relay.
#[derive(Debug)]
pub struct ModuleEndpoint<'m> {
    /// The module.
    pub module: &'m Module,
    /// The session, logged in as the Crypto Officer.
    pub session: CK_SESSION_HANDLE,
}

impl Endpoint for ModuleEndpoint<'_> {
    fn cpv4_enabled(&mut self) -> Result<bool, CK_RV> {
        // A module tells by refusing the Start (CKR_PROTOCOL_DISABLED); the flow has no
        // legacy fallback across a relay.
        Ok(true)
    }

    fn start(&mut self) -> Result<Vec<u8>, CK_RV> {
        self.module.cpv4_start(self.session)
    }

    fn continue_negotiation(
        &mut self,
        step: CK_ULONG,
        input: &[u8],
        uid: Option<&SessionUid>,
    ) -> Result<Continued, CK_RV> {
        self.module.cpv4_continue(self.session, step, input, uid)
    }

    fn extract(
        &mut self,
        uid: &SessionUid,
        input: &[u8],
        flags: CK_ULONG,
        objects: &[(CK_ULONG, CK_OBJECT_HANDLE)],
    ) -> Result<Extraction, CK_RV> {
        self.module
            .cpv4_extract(self.session, uid, input, flags, objects)
    }

    fn insert(
        &mut self,
        uid: &SessionUid,
        flags: CK_ULONG,
        blobs: &[(CK_ULONG, CK_ULONG, &[u8])],
    ) -> Result<Insertion, CK_RV> {
        self.module.cpv4_insert(self.session, uid, flags, blobs)
    }

    fn close(&mut self, uid: &SessionUid) -> Result<(), CK_RV> {
        self.module.cpv4_close(self.session, uid)
    }

    fn abandon(&mut self, _offer: &[u8]) -> Result<(), CK_RV> {
        // The CA_ API has no call for it: the pending negotiation expires on the device.
        Ok(())
    }
}
