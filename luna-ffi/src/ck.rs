//! Standard PKCS#11 values that `cpv4_wire::consts` (the project's single source of
//! constants) does not define: `CK_TRUE`, `CK_FALSE` and `CK_EFFECTIVELY_INFINITE`, with the
//! values of the v2.40 headers. No `CKR_*`, `CKA_*`, `CKM_*` or `CKF_*` value is defined here.

use crate::types::{CK_BBOOL, CK_ULONG};

/// `CK_TOKEN_INFO` session limits: no limit.
pub const CK_EFFECTIVELY_INFINITE: CK_ULONG = 0;
/// `CK_BBOOL` true.
pub const CK_TRUE: CK_BBOOL = 1;
/// `CK_BBOOL` false.
pub const CK_FALSE: CK_BBOOL = 0;
