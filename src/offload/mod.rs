//! Offload (issue 13, DESIGN "Offload and hooks"), its pure core so far: the remote manifest
//! that commits an uploaded checkpoint, and retention over the committed remote copies with the
//! same planner as local runs. Nothing here does I/O, and no config key reaches it yet: a
//! config that asked for `upload` before uploads are verified would let local deletions go
//! ahead of a copy that does not exist, so the keys come with the uploader, not before it.

pub mod manifest;
pub mod remote_plan;
pub mod select;
pub mod target;

pub use manifest::{FileEntry, Manifest, ManifestError, MANIFEST_NAME};
pub use remote_plan::{deletion_order, plan_remote, RemoteDeletion};
pub use select::{hold_uploading, hold_wanted, Which};
pub use target::{Scheme, Target, TargetError};
