//! Object-store credentials from each cloud's standard environment.
//!
//! `object_store` reads `GOOGLE_*`, `AWS_*` and `AZURE_*` variables itself, with one gap this
//! module fills: its GCS builder does not treat `GOOGLE_APPLICATION_CREDENTIALS` as a
//! service-account key file, which is how the operator's Job passes the key
//! (`/secret/key.json`). A service-account file may also carry `"gcs_base_url"` and
//! `"disable_oauth": true`, which is how fake-gcs-server is reached.
//!
//! Nothing here logs or returns the contents of a key file.

use std::path::{Path, PathBuf};

use super::{SourceError, StorageOptions};

/// The standard variable naming a GCS key file.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// Variables through which `object_store` already finds a GCS service account.
const GCS_SERVICE_ACCOUNT_VARS: &[&str] = &[
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "SERVICE_ACCOUNT",
];

/// A GCS key file and how `object_store` must be given it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcsKeyFile {
    /// A service-account key (`"type": "service_account"`, or no type, as emulator keys have).
    ServiceAccount(PathBuf),
    /// A user's application-default credentials (`"type": "authorized_user"`).
    AuthorizedUser(PathBuf),
}

/// The GCS key file to use: `opts.gcs_credentials_file`, else `GOOGLE_APPLICATION_CREDENTIALS`
/// (looked up through `env`) unless a `GOOGLE_SERVICE_ACCOUNT*` variable already names one.
pub fn gcs_key_file(
    opts: &StorageOptions,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<GcsKeyFile>, SourceError> {
    let path = match &opts.gcs_credentials_file {
        Some(p) => p.clone(),
        None => {
            if GCS_SERVICE_ACCOUNT_VARS.iter().any(|v| env(v).is_some()) {
                return Ok(None);
            }
            match env(GOOGLE_APPLICATION_CREDENTIALS) {
                Some(p) if !p.is_empty() => PathBuf::from(p),
                _ => return Ok(None),
            }
        }
    };
    classify_key_file(&path).map(Some)
}

/// Reads the `"type"` of a key file.
fn classify_key_file(path: &Path) -> Result<GcsKeyFile, SourceError> {
    let fail = |reason: String| SourceError::Config {
        location: path.display().to_string(),
        reason,
    };
    let text = std::fs::read(path)
        .map_err(|e| fail(format!("cannot read the GCS credentials file: {e}")))?;
    // serde_json's messages give a line and column, never the text.
    let json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| fail(format!("the GCS credentials file is not JSON: {e}")))?;
    match json.get("type").and_then(|t| t.as_str()) {
        Some("authorized_user") => Ok(GcsKeyFile::AuthorizedUser(path.to_owned())),
        Some("service_account") | None => Ok(GcsKeyFile::ServiceAccount(path.to_owned())),
        Some(other) => Err(fail(format!(
            "unsupported GCS credentials type {other:?} (expected service_account or authorized_user)"
        ))),
    }
}

/// Whether `object_store` has GCS credentials other than a key file: variables or options.
pub(super) fn gcs_has_other_credentials(
    opts: &StorageOptions,
    env: impl Fn(&str) -> Option<String>,
) -> bool {
    GCS_SERVICE_ACCOUNT_VARS.iter().any(|v| env(v).is_some())
        || env("GOOGLE_BEARER_TOKEN").is_some()
        || opts.config.iter().any(|(k, _)| {
            let k = k.strip_prefix("google_").unwrap_or(k);
            k.starts_with("service_account")
                || k == "bearer_token"
                || k == "application_credentials"
        })
}

/// The process environment's variables starting with `prefix`, keys lowercased, as
/// `object_store`'s `from_env` reads them.
pub(super) fn env_pairs(prefix: &str) -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// The process environment, for [`gcs_key_file`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_key(name: &str, json: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("rio-cred-{}-{name}.json", std::process::id()));
        std::fs::write(&p, json).unwrap();
        p
    }

    #[test]
    fn maps_google_application_credentials() {
        let p = write_key("sa", r#"{"type":"service_account","private_key":"x"}"#);
        let ps = p.display().to_string();
        let env = |k: &str| (k == GOOGLE_APPLICATION_CREDENTIALS).then(|| ps.clone());
        let got = gcs_key_file(&StorageOptions::default(), env).unwrap();
        assert_eq!(got, Some(GcsKeyFile::ServiceAccount(p.clone())));

        let user = write_key("user", r#"{"type":"authorized_user"}"#);
        let opts = StorageOptions {
            gcs_credentials_file: Some(user.clone()),
            ..Default::default()
        };
        assert_eq!(
            gcs_key_file(&opts, env).unwrap(),
            Some(GcsKeyFile::AuthorizedUser(user))
        );
    }

    #[test]
    fn defers_to_object_store_variables() {
        let env = |k: &str| match k {
            GOOGLE_APPLICATION_CREDENTIALS => Some("/nonexistent".to_owned()),
            "GOOGLE_SERVICE_ACCOUNT" => Some("/other".to_owned()),
            _ => None,
        };
        assert_eq!(gcs_key_file(&StorageOptions::default(), env).unwrap(), None);
        assert_eq!(
            gcs_key_file(&StorageOptions::default(), |_| None).unwrap(),
            None
        );
    }

    #[test]
    fn bad_key_files_are_clear_errors_without_contents() {
        let p = write_key("bad", "not json SECRET");
        let opts = StorageOptions {
            gcs_credentials_file: Some(p.clone()),
            ..Default::default()
        };
        let err = gcs_key_file(&opts, |_| None).unwrap_err().to_string();
        assert!(
            err.contains("not JSON") && err.contains(&p.display().to_string()),
            "{err}"
        );
        assert!(!err.contains("SECRET"), "{err}");

        let opts = StorageOptions {
            gcs_credentials_file: Some("/nonexistent/key.json".into()),
            ..Default::default()
        };
        let err = gcs_key_file(&opts, |_| None).unwrap_err().to_string();
        assert!(
            err.contains("cannot read") && err.contains("/nonexistent/key.json"),
            "{err}"
        );
    }
}
