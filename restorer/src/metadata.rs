//! Backup metadata `<name>.json` (DESIGN §5): `{"namespace":"<original namespace>"}`.
//!
//! Read leniently: unknown fields are ignored, and a missing, `null` or empty namespace is
//! `None` (the caller then falls back to the data file's `# namespace` line).

use serde::Deserialize;

/// The metadata the restorer uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupMetadata {
    /// The namespace the backup was taken from, if the metadata names one.
    pub namespace: Option<String>,
}

/// The metadata JSON is not usable.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Not a JSON object, or `namespace` is not a string.
    #[error("backup metadata is not valid: {0} (expected {{\"namespace\":\"<name>\"}})")]
    Invalid(#[from] serde_json::Error),
}

/// The fields read; a JSON object only (serde would also take an array for a struct).
#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    namespace: Option<String>,
}

/// Accepts only a JSON object, then reads the known fields from it.
fn from_object(json: &[u8]) -> Result<Raw, serde_json::Error> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json)?;
    serde_json::from_value(serde_json::Value::Object(map))
}

/// Parses the metadata JSON. A UTF-8 byte-order mark and surrounding whitespace are allowed.
pub fn parse(json: &[u8]) -> Result<BackupMetadata, MetadataError> {
    let json = json.strip_prefix(b"\xef\xbb\xbf").unwrap_or(json);
    let raw = from_object(json)?;
    Ok(BackupMetadata {
        namespace: raw.namespace.filter(|n| !n.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(json: &str) -> Option<String> {
        parse(json.as_bytes()).unwrap().namespace
    }

    #[test]
    fn reads_the_namespace_leniently() {
        assert_eq!(ns("{\"namespace\":\"test\"}\n").as_deref(), Some("test"));
        assert_eq!(
            ns(r#"{"version":2,"namespace":"bar","extra":{"a":[1]}}"#).as_deref(),
            Some("bar")
        );
        assert_eq!(ns("\u{feff} {\"namespace\":\"x\"} ").as_deref(), Some("x"));
        assert_eq!(ns(r#"{"namespace":""}"#), None);
        assert_eq!(ns(r#"{"namespace":null}"#), None);
        assert_eq!(ns("{}"), None);
    }

    #[test]
    fn rejects_what_is_not_metadata() {
        for bad in [
            "",
            "[]",
            "not json",
            r#"{"namespace":5}"#,
            r#"{"namespace":"a"} x"#,
        ] {
            let err = parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("backup metadata is not valid"), "{bad}: {err}");
        }
    }
}
