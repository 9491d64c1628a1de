//! Object stores (GCS, S3, Azure) through `object_store`, configured for long downloads.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, RetryConfig, StaticCredentialProvider};
use url::Url;

use super::credentials::{self, GcsKeyFile};
use super::{Input, Location, Scheme, SourceError, StorageOptions, is_backup_name, resume};

/// Connect timeout for object-store requests.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A read that stalls this long fails, and the resume layer reconnects.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// `object_store`'s own retries of one request stop this long after the request started;
/// later drops are resumed by [`resume`] with a fresh request (and fresh credentials).
const RETRY_TIMEOUT: Duration = Duration::from_secs(4 * 60);

/// Option-key prefixes of each store; keys of other stores are ignored.
const STORE_PREFIXES: &[(Scheme, &str)] = &[
    (Scheme::Gcs, "google_"),
    (Scheme::S3, "aws_"),
    (Scheme::Azure, "azure_"),
];

/// Opens an object for streaming, with resume.
pub(super) async fn open(loc: &Location, opts: &StorageOptions) -> Result<Input, SourceError> {
    let (store, path) = store_for(loc, opts)?;
    resume::open(store, path, loc.to_string(), opts.resume.clone()).await
}

/// Lists backup objects directly under a prefix, as (object name, location).
pub(super) async fn list(
    dir: &Location,
    opts: &StorageOptions,
) -> Result<Vec<(String, Location)>, SourceError> {
    let (store, prefix) = store_for(dir, opts)?;
    let Location::Url(base) = dir else {
        unreachable!("store_for accepts only URLs")
    };
    let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
    let listing = store
        .list_with_delimiter(prefix.as_ref())
        .await
        .map_err(|source| SourceError::Store {
            location: dir.to_string(),
            action: "list",
            source,
        })?;
    let found = listing
        .objects
        .into_iter()
        .filter_map(|meta| {
            let name = meta.location.filename()?.to_owned();
            if !is_backup_name(&name) {
                return None;
            }
            let mut url = base.clone();
            url.set_query(None);
            url.set_path("");
            {
                let mut segments = url.path_segments_mut().ok()?;
                segments.clear();
                segments.extend(meta.location.parts().map(|p| p.as_ref().to_owned()));
            }
            Some((name, Location::Url(url)))
        })
        .collect();
    Ok(found)
}

/// Builds the store client for a URL location and the object path inside it (also used by
/// tests to upload objects to emulators).
pub fn store_for(
    loc: &Location,
    opts: &StorageOptions,
) -> Result<(Arc<dyn ObjectStore>, Path), SourceError> {
    let name = loc.to_string();
    let config_err = |reason: String| SourceError::Config {
        location: name.clone(),
        reason,
    };
    let Location::Url(url) = loc else {
        return Err(config_err("not an object-store URL".into()));
    };
    let scheme = Scheme::of(url).ok_or_else(|| config_err("unsupported scheme".into()))?;
    let path = Path::from_url_path(url.path()).map_err(|e| config_err(e.to_string()))?;
    let store: Arc<dyn ObjectStore> = match scheme {
        Scheme::Gcs => Arc::new(gcs(url, opts, &name)?),
        Scheme::S3 => Arc::new(s3(url, opts, &name)?),
        Scheme::Azure => Arc::new(azure(url, opts, &name)?),
        Scheme::File => return Err(config_err("file:// is read directly".into())),
    };
    Ok((store, path))
}

/// Client options for streaming large objects: no whole-request timeout (a multi-gigabyte
/// body takes longer than any fixed limit), but a connect and a read (stall) timeout.
pub fn streaming_client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_read_timeout(READ_TIMEOUT)
}

fn retry_config(opts: &StorageOptions) -> RetryConfig {
    let mut retry = RetryConfig {
        retry_timeout: RETRY_TIMEOUT,
        ..RetryConfig::default()
    };
    if let Some(n) = opts.request_retries {
        retry.max_retries = n;
    }
    retry
}

/// A store builder configured through `object_store`'s string keys.
trait Configure: Sized {
    type Key: FromStr;
    fn set(self, key: Self::Key, value: String) -> Self;
}

impl Configure for GoogleCloudStorageBuilder {
    type Key = GoogleConfigKey;
    fn set(self, key: GoogleConfigKey, value: String) -> Self {
        self.with_config(key, value)
    }
}

impl Configure for AmazonS3Builder {
    type Key = AmazonS3ConfigKey;
    fn set(self, key: AmazonS3ConfigKey, value: String) -> Self {
        self.with_config(key, value)
    }
}

impl Configure for MicrosoftAzureBuilder {
    type Key = AzureConfigKey;
    fn set(self, key: AzureConfigKey, value: String) -> Self {
        self.with_config(key, value)
    }
}

/// Applies the environment variables starting with `prefix`, as `object_store`'s `from_env`
/// does (unknown ones ignored), except the keys `skip` rejects.
fn apply_env<B: Configure>(mut b: B, prefix: &str, skip: impl Fn(&B::Key) -> bool) -> B {
    for (k, v) in credentials::env_pairs(prefix) {
        if let Ok(key) = k.parse::<B::Key>()
            && !skip(&key)
        {
            b = b.set(key, v);
        }
    }
    b
}

/// Applies the explicit options meant for `scheme`: other stores' keys are ignored, unknown
/// keys refused (naming the key, never the value).
fn apply_explicit<B: Configure>(
    mut b: B,
    scheme: Scheme,
    opts: &StorageOptions,
    name: &str,
) -> Result<B, SourceError> {
    let foreign = |k: &str| {
        STORE_PREFIXES
            .iter()
            .any(|(s, p)| *s != scheme && k.starts_with(p))
    };
    for (k, v) in opts.config.iter().filter(|(k, _)| !foreign(k)) {
        let key = k.parse::<B::Key>().map_err(|_| SourceError::Config {
            location: name.to_owned(),
            reason: format!("unknown object store option {k:?}"),
        })?;
        b = b.set(key, v.clone());
    }
    Ok(b)
}

fn build_err(name: &str, e: object_store::Error) -> SourceError {
    SourceError::Config {
        location: name.to_owned(),
        reason: e.to_string(),
    }
}

/// Whether a plain-HTTP endpoint was asked for (then HTTP is allowed; never disallowed here, so
/// `AWS_ALLOW_HTTP` / `AZURE_ALLOW_HTTP` still count).
fn is_http(endpoint: &str) -> bool {
    endpoint.starts_with("http://")
}

fn gcs(
    url: &Url,
    opts: &StorageOptions,
    name: &str,
) -> Result<object_store::gcp::GoogleCloudStorage, SourceError> {
    let key_file = credentials::gcs_key_file(opts, credentials::process_env)?;
    let mut b = GoogleCloudStorageBuilder::new()
        .with_client_options(streaming_client_options().with_allow_http(true))
        .with_retry(retry_config(opts));
    if let Ok(sa) = std::env::var("SERVICE_ACCOUNT")
        && key_file.is_none()
    {
        b = b.with_service_account_path(sa);
    }
    // An explicit key file replaces whatever credentials the environment names.
    b = apply_env(b, "GOOGLE_", |key| {
        key_file.is_some()
            && matches!(
                key,
                GoogleConfigKey::ServiceAccount
                    | GoogleConfigKey::ServiceAccountKey
                    | GoogleConfigKey::ApplicationCredentials
            )
    });
    b = match &key_file {
        Some(GcsKeyFile::ServiceAccount(p)) => b.with_service_account_path(p.display().to_string()),
        Some(GcsKeyFile::AuthorizedUser(p)) => {
            b.with_application_credentials(p.display().to_string())
        }
        None => b,
    };
    if let Some(ep) = &opts.endpoint {
        b = b.with_base_url(ep);
        // An emulator without any credentials: send an empty bearer token (as a key file with
        // `disable_oauth` does) rather than asking the GCE metadata server for one.
        if key_file.is_none()
            && !credentials::gcs_has_other_credentials(opts, credentials::process_env)
        {
            let anonymous = GcpCredential {
                bearer: String::new(),
            };
            b = b.with_credentials(Arc::new(StaticCredentialProvider::new(anonymous)));
        }
    }
    apply_explicit(b, Scheme::Gcs, opts, name)?
        .with_url(url.as_str())
        .build()
        .map_err(|e| build_err(name, e))
}

fn s3(
    url: &Url,
    opts: &StorageOptions,
    name: &str,
) -> Result<object_store::aws::AmazonS3, SourceError> {
    let mut b = AmazonS3Builder::new()
        .with_client_options(streaming_client_options())
        .with_retry(retry_config(opts));
    b = apply_env(b, "AWS_", |_| false);
    if let Some(ep) = &opts.endpoint {
        // Emulators and S3-compatible stores take path-style requests.
        b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
        if is_http(ep) {
            b = b.with_allow_http(true);
        }
    }
    apply_explicit(b, Scheme::S3, opts, name)?
        .with_url(url.as_str())
        .build()
        .map_err(|e| build_err(name, e))
}

fn azure(
    url: &Url,
    opts: &StorageOptions,
    name: &str,
) -> Result<object_store::azure::MicrosoftAzure, SourceError> {
    let mut b = MicrosoftAzureBuilder::new()
        .with_client_options(streaming_client_options())
        .with_retry(retry_config(opts));
    b = apply_env(b, "AZURE_", |_| false);
    if let Ok(msi) = std::env::var("MSI_ENDPOINT") {
        b = b.with_msi_endpoint(msi);
    }
    b = apply_explicit(b, Scheme::Azure, opts, name)?;
    if let Some(ep) = &opts.endpoint {
        // Azurite-style endpoints name the account in the path: http://host:10000/account.
        if b.get_config_value(&AzureConfigKey::AccountName).is_none() {
            let account = Url::parse(ep)
                .ok()
                .and_then(|u| u.path_segments()?.next().map(str::to_owned))
                .filter(|a| !a.is_empty());
            if let Some(account) = account {
                b = b.with_account(account);
            }
        }
        b = b.with_endpoint(ep.clone());
        if is_http(ep) {
            b = b.with_allow_http(true);
        }
    }
    b.with_url(url.as_str())
        .build()
        .map_err(|e| build_err(name, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        s.parse().unwrap()
    }

    #[test]
    fn builds_each_store_with_an_endpoint() {
        let mut opts = StorageOptions::with_endpoint("http://127.0.0.1:1/devstoreaccount1");
        opts.config = vec![
            ("aws_access_key_id".into(), "k".into()),
            ("aws_secret_access_key".into(), "s".into()),
            ("azure_storage_account_key".into(), "a2V5".into()),
        ];
        for s in [
            "gs://b/d/x.asb.gz",
            "s3://b/d/x.asb.gz",
            "az://c/d/x.asb.gz",
            "azure://c/d/x.asb.gz",
        ] {
            let (_, path) = store_for(&loc(s), &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(path.as_ref(), "d/x.asb.gz", "{s}");
        }
    }

    #[test]
    fn unknown_options_are_refused_without_their_values() {
        let mut opts = StorageOptions::with_endpoint("http://127.0.0.1:1");
        opts.config = vec![("aws_no_such_option".into(), "SECRET-VALUE".into())];
        let err = store_for(&loc("s3://b/x"), &opts).unwrap_err().to_string();
        assert!(
            err.contains("aws_no_such_option") && err.contains("s3://b/x"),
            "{err}"
        );
        assert!(!err.contains("SECRET-VALUE"), "{err}");
        // Another store's keys are ignored, not refused.
        assert!(store_for(&loc("gs://b/x"), &opts).is_ok());
    }

    #[test]
    fn debug_never_shows_option_values() {
        let opts = StorageOptions {
            config: vec![("aws_secret_access_key".into(), "SECRET-VALUE".into())],
            ..StorageOptions::default()
        };
        let shown = format!("{opts:?}");
        assert!(shown.contains("aws_secret_access_key") && !shown.contains("SECRET-VALUE"));
    }
}
