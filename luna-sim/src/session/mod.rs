//! What a PKCS#11 library instance holds: the session table with its login state and active
//! operations (`table`), roles and PIN hashing (`auth`), and the session and login calls
//! (`api`).

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod table;
