//! A standard PKCS#11 v2.40 module over the simulated Thales Luna HSM [`luna_sim`].
//!
//! Built as a `cdylib` (`libluna_ffi.so`), it exports every standard function by name and
//! through [`C_GetFunctionList`]. Each call checks its pointers and lengths, builds typed
//! values, calls the [`luna_sim::Simulator`] and writes the outputs; errors become `CK_RV`
//! in one place ([`luna_sim::SimError::rv`] and the module's own argument errors), and a
//! panic becomes `CKR_GENERAL_ERROR`. The library is thread-safe (`CKF_OS_LOCKING_OK`).
//!
//! `C_Initialize` opens the simulator home named by `LUNA_SIM_HOME` (else the simulator's
//! default home); see the README for pointing applications at the module.
//!
//! Implemented: general, slot and token functions, sessions and login (`CKU_SO`, `CKU_USER`,
//! `CKU_CRYPTO_USER`), PINs, objects and attributes, find, AES-GCM, AES-CBC-PAD and RSA
//! (PKCS #1 v1.5, OAEP, raw) encryption, ECDSA (P-256, P-384, P-521), HMAC and RSA (PKCS #1
//! v1.5, PSS, raw) signatures, SHA-1/224/256/384/512 digests, AES and generic secret key
//! generation, EC and RSA key pairs, AES key wrap with padding and RSA wrap, random,
//! `C_GetObjectSize`. The mechanism table of the README lists every mechanism; the few
//! functions with no implementation return their documented code (most
//! `CKR_FUNCTION_NOT_SUPPORTED`).
//!
//! The Luna extensions are exported by name (the vendor's wrapper resolves each with `dlsym`):
//! the CPv4 calls (`CA_MigrationStartSessionNegotiation`,
//! `CA_MigrationContinueSessionNegotiation`, `CA_MigrationCloseSession`, `CA_Extract`,
//! `CA_Insert`, `CA_MigrateKeys`), the legacy `CA_CloneObject`, the domain calls
//! (`CA_AddKCV`, `CA_ChangeKCVLabel`, `CA_DeleteKCV`, `CA_GetKCVLabels`), and
//! `CA_GetFirmwareVersion`, `CA_GetTime`, `CA_GetHSMPolicySetting`, `CA_SetHSMPolicy`,
//! `CA_GetTokenPolicies`, `CA_SetTokenPolicies`.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_snake_case)]

mod args;
mod cipher;
pub mod ck;
pub mod client;
mod cpv4;
mod domains;
mod dual;
mod function_list;
mod general;
mod guard;
mod keys;
mod mechanism;
mod object;
mod session;
mod sign;
mod state;
mod template;
pub mod types;
mod unsupported;
mod vendor;

pub use cipher::*;
pub use cpv4::*;
pub use domains::*;
pub use dual::*;
pub use function_list::{C_GetFunctionList, FUNCTION_LIST};
pub use general::*;
pub use keys::*;
pub use object::*;
pub use session::*;
pub use sign::*;
pub use unsupported::*;
pub use vendor::*;
