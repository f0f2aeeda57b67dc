//! Token objects: attribute values (`attrs`), the object model and template rules
//! (`objects`), and the object calls (`api`).

pub(crate) mod api;
pub(crate) mod attrs;
pub(crate) mod objects;
