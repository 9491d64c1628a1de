//! Where a backup comes from: a local path, standard input, or an object-store URL.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use url::Url;

use super::SourceError;

/// URL schemes served by an object store (plus `file://`, served by the local reader).
const OBJECT_STORE_SCHEMES: &[&str] = &["gs", "s3", "s3a", "az", "azure", "abfs", "abfss"];

/// Where a backup (or its metadata) is read from.
///
/// Parsed from the command line: `-` is standard input; `gs://`, `s3://`, `az://` (also
/// `azure://`, `abfs[s]://`, `s3a://`) and `file://` are URLs; anything else is a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Standard input (`-`).
    Stdin,
    /// A local file or directory.
    Path(PathBuf),
    /// `gs://bucket/obj`, `s3://bucket/obj`, `az://container/obj` or `file:///abs/path`.
    Url(Url),
}

/// The kind of store a [`Location::Url`] points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Amazon S3 or an S3-compatible store (`s3://`, `s3a://`).
    S3,
    /// Azure Blob Storage (`az://`, `azure://`, `abfs[s]://`).
    Azure,
    /// A local file given as a `file://` URL.
    File,
}

impl Scheme {
    /// The scheme of a URL, if it is one the restorer reads from.
    pub fn of(url: &Url) -> Option<Scheme> {
        match url.scheme() {
            "gs" => Some(Scheme::Gcs),
            "s3" | "s3a" => Some(Scheme::S3),
            "az" | "azure" | "abfs" | "abfss" => Some(Scheme::Azure),
            "file" => Some(Scheme::File),
            _ => None,
        }
    }
}

impl Location {
    /// `<self><suffix>`: `--backup gs://b/x` reads `gs://b/x.json` and `gs://b/x.asb.gz`.
    ///
    /// Standard input has no name to extend and is returned unchanged.
    pub fn with_suffix(&self, suffix: &str) -> Location {
        match self {
            Location::Stdin => Location::Stdin,
            Location::Path(p) => {
                let mut s = OsString::from(p.as_os_str());
                s.push(suffix);
                Location::Path(PathBuf::from(s))
            }
            Location::Url(u) => {
                let mut u = u.clone();
                let path = format!("{}{}", u.path(), suffix);
                u.set_path(&path);
                Location::Url(u)
            }
        }
    }

    /// The local path this location names, for plain paths and `file://` URLs.
    pub fn local_path(&self) -> Option<PathBuf> {
        match self {
            Location::Path(p) => Some(p.clone()),
            Location::Url(u) if u.scheme() == "file" => u.to_file_path().ok(),
            _ => None,
        }
    }

    /// The last component of the location (file or object name), if any.
    pub fn file_name(&self) -> Option<String> {
        match self {
            Location::Stdin => None,
            Location::Path(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
            Location::Url(u) => u
                .path_segments()
                .and_then(|mut s| s.next_back())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
    }
}

impl FromStr for Location {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| SourceError::InvalidLocation {
            input: redact_str(s),
            reason,
        };
        if s == "-" {
            return Ok(Location::Stdin);
        }
        if s.is_empty() {
            return Err(invalid("empty path".into()));
        }
        let Some((scheme, _)) = s.split_once("://") else {
            return Ok(Location::Path(PathBuf::from(s)));
        };
        let url = Url::parse(s).map_err(|e| invalid(e.to_string()))?;
        match Scheme::of(&url) {
            Some(Scheme::File) => {
                url.to_file_path()
                    .map_err(|()| invalid("a file:// URL needs an absolute local path".into()))?;
                Ok(Location::Url(url))
            }
            Some(_) => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid(format!(
                        "{scheme}:// needs a bucket or container name"
                    )));
                }
                Ok(Location::Url(url))
            }
            None => Err(invalid(format!(
                "unsupported scheme {scheme:?}; expected one of {}, file, a local path or -",
                OBJECT_STORE_SCHEMES.join(", ")
            ))),
        }
    }
}

impl fmt::Display for Location {
    /// Shows the location for messages, without any password or query string (SAS tokens).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Stdin => f.write_str("<stdin>"),
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Url(u) => f.write_str(&redact_url(u)),
        }
    }
}

/// A URL without its password and query string.
fn redact_url(u: &Url) -> String {
    let mut u = u.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        u.set_query(Some("***"));
    }
    u.fragment().is_some().then(|| u.set_fragment(None));
    u.to_string()
}

/// Redacts a location string that may not parse as a URL.
fn redact_str(s: &str) -> String {
    match Url::parse(s) {
        Ok(u) if s.contains("://") => redact_url(&u),
        _ => match s.split_once('?') {
            Some((head, _)) => format!("{head}?***"),
            None => s.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        s.parse().unwrap()
    }

    #[test]
    fn parses_each_kind() {
        assert_eq!(loc("-"), Location::Stdin);
        assert_eq!(loc("dir/x.asb"), Location::Path("dir/x.asb".into()));
        assert_eq!(loc("/abs/x.asb.gz"), Location::Path("/abs/x.asb.gz".into()));
        for s in [
            "gs://b/o.asb",
            "s3://b/d/o.asb.gz",
            "az://c/o",
            "azure://c/o",
            "file:///tmp/x.asb",
        ] {
            assert!(matches!(loc(s), Location::Url(_)), "{s}");
        }
        assert_eq!(
            loc("file:///tmp/x.asb").local_path(),
            Some(PathBuf::from("/tmp/x.asb"))
        );
        assert_eq!(loc("gs://b/o.asb").local_path(), None);
    }

    #[test]
    fn rejects_bad_locations() {
        for s in ["", "http://x/y", "gs:///nobucket", "ftp://h/x"] {
            let err = s.parse::<Location>().unwrap_err().to_string();
            assert!(err.contains("invalid location"), "{s}: {err}");
        }
    }

    #[test]
    fn with_suffix_appends() {
        assert_eq!(
            loc("gs://b/backups/ns-1").with_suffix(".json").to_string(),
            "gs://b/backups/ns-1.json"
        );
        assert_eq!(
            loc("/tmp/ns-1").with_suffix(".asb.gz"),
            Location::Path("/tmp/ns-1.asb.gz".into())
        );
        assert_eq!(loc("-").with_suffix(".json"), Location::Stdin);
    }

    #[test]
    fn display_hides_credentials() {
        let shown = loc("az://user:secret@c/o?sig=abc").to_string();
        assert!(
            !shown.contains("secret") && !shown.contains("abc"),
            "{shown}"
        );
        let err = "http://u:pw@h/x?sig=tok"
            .parse::<Location>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("pw@") && !err.contains("tok"), "{err}");
    }

    #[test]
    fn file_name_of_each_kind() {
        assert_eq!(loc("gs://b/d/x.asb").file_name().as_deref(), Some("x.asb"));
        assert_eq!(loc("d/x.asb.gz").file_name().as_deref(), Some("x.asb.gz"));
        assert_eq!(loc("-").file_name(), None);
    }
}
