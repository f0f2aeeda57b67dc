//! Devices (HSMs) and their partitions: the records that create them, the default layout,
//! policies, clocks, attestation identities and trust stores, and cloning domains.
//!
//! `records` and `provision` write the store inside a caller's transaction and never import
//! the simulator; `api` and `domains` are the `Simulator` calls over them.

pub(crate) mod api;
pub(crate) mod clock;
pub(crate) mod domains;
pub mod provision;
pub(crate) mod records;
pub(crate) mod roots;
