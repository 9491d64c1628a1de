//! Server result codes the node answers with (the values of the wire protocol).

/// Success.
pub const OK: u8 = 0;
/// Generic server error.
pub const SERVER_ERROR: u8 = 1;
/// Record not found.
pub const KEY_NOT_FOUND: u8 = 2;
/// Generation check failed.
pub const GENERATION: u8 = 3;
/// Bad parameter (bad TTL, bad value, malformed request).
pub const PARAMETER: u8 = 4;
/// Record exists (create-only).
pub const KEY_EXISTS: u8 = 5;
/// Server timeout.
pub const TIMEOUT: u8 = 9;
/// Bin type incompatible with the operation.
pub const BIN_TYPE: u8 = 12;
/// Record larger than `max-record-size`.
pub const RECORD_TOO_BIG: u8 = 13;
/// Hot key: record busy.
pub const KEY_BUSY: u8 = 14;
/// Unsupported feature.
pub const UNSUPPORTED_FEATURE: u8 = 16;
/// Device overload.
pub const DEVICE_OVERLOAD: u8 = 18;
/// Sent key differs from the stored key.
pub const KEY_MISMATCH: u8 = 19;
/// Namespace not found.
pub const NAMESPACE_NOT_FOUND: u8 = 20;
/// Bin name too long (or empty).
pub const BIN_NAME: u8 = 21;
/// Enterprise-only feature (e.g. a compressed request to Community Edition).
pub const ENTERPRISE_ONLY: u8 = 25;
/// Batch index protocol disabled (batch-index-threads 0).
pub const BATCH_DISABLED: u8 = 150;
/// Invalid GeoJSON.
pub const GEO_INVALID_GEOJSON: u8 = 160;
