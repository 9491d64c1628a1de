//! asrestore's configuration files (TOML): `/etc/aerospike/astools.conf`, then
//! `~/.aerospike/astools.conf`, then `--config-file PATH`; or only `--only-config-file PATH`;
//! none with `--no-config-file`.
//!
//! Sections read: `[cluster]` (connection options), `[asrestore]` (everything else) and
//! `[include]` (`file = "..."`, `directory = "..."`: more files, read in place). With
//! `--instance NAME` the sections are `[cluster_NAME]` and `[asrestore_NAME]`. Other sections
//! belong to other tools sharing `astools.conf` and are left alone. Keys are the long option
//! names (`tls-enable = true`, `port = 3000`, `_` and `-` alike).
//!
//! The files become command-line arguments placed before the real ones, so flags given on the
//! command line override them (the last value of an option wins). A file that cannot be read
//! or parsed, an unknown key, or a value of the wrong type is an error naming the file, the
//! line and the key.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The default files, in reading order (`~` is `$HOME`).
pub const DEFAULT_FILES: &[&str] = &["/etc/aerospike/astools.conf", "~/.aerospike/astools.conf"];

/// Most `[include]` nesting followed (a loop guard).
const MAX_INCLUDE_DEPTH: usize = 8;

/// Keys of `[cluster]`.
const CLUSTER_KEYS: &[&str] = &[
    "host",
    "port",
    "user",
    "password",
    "auth",
    "services-alternate",
    "tls-enable",
    "tls-name",
    "tls-cafile",
    "tls-capath",
    "tls-protocols",
    "tls-cipher-suite",
    "tls-keyfile",
    "tls-keyfile-password",
    "tls-certfile",
    "tls-cert-blacklist",
    "tls-crl-check",
    "tls-crl-checkall",
    "tls-log-session-info",
    "sa-address",
    "sa-port",
    "sa-timeout",
    "sa-cafile",
];

/// Keys of `[asrestore]`: asrestore's options, then this restorer's own.
const RESTORE_KEYS: &[&str] = &[
    "namespace",
    "directory",
    "input-file",
    "directory-list",
    "parent-directory",
    "compress",
    "encrypt",
    "encryption-key-file",
    "encryption-key-env",
    "parallel",
    "threads",
    "machine",
    "bin-list",
    "set-list",
    "ignore-record-error",
    "unique",
    "replace",
    "no-generation",
    "extra-ttl",
    "nice",
    "validate",
    "no-records",
    "no-indexes",
    "indexes-last",
    "no-udfs",
    "wait",
    "timeout",
    "socket-timeout",
    "total-timeout",
    "max-retries",
    "retry-scale-factor",
    "disable-batch-writes",
    "max-async-batches",
    "batch-size",
    "event-loops",
    "s3-region",
    "s3-profile",
    "s3-endpoint-override",
    "s3-max-async-downloads",
    "s3-log-level",
    "s3-connect-timeout",
    "s3-allow-system-proxy",
    "verbose",
    // This restorer's own.
    "input",
    "backup",
    "metadata",
    "storage-endpoint",
    "target-namespace",
    "bandwidth",
    "records-per-second",
    "tps",
    "log-format",
];

/// Options that name the backup source: when the command line gives one, the files' are
/// dropped (they would conflict instead of being overridden).
const SOURCE_KEYS: &[&str] = &[
    "directory",
    "input-file",
    "input",
    "directory-list",
    "backup",
];

/// A configuration file problem; shown as `PATH:LINE: message`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("{path}: cannot read the configuration file: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    At {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong (names the key).
        message: String,
    },
    /// `--config-file` and `--only-config-file` together.
    #[error("--config-file and --only-config-file cannot be used together")]
    Conflict,
    /// A command-line option about configuration files lacks its value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
}

/// What the command line says about configuration files.
#[derive(Debug, Default, PartialEq, Eq)]
struct FileFlags {
    no_config_file: bool,
    config_file: Option<PathBuf>,
    only_config_file: Option<PathBuf>,
    instance: Option<String>,
    /// The command line names a backup source (`-i`, `-d`, `--directory-list`, `--backup`).
    has_source: bool,
}

fn scan(args: &[OsString]) -> Result<FileFlags, ConfigFileError> {
    let mut f = FileFlags::default();
    let mut it = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |flag: &'static str| match &inline {
            Some(v) => Ok(v.clone()),
            None => it.next().ok_or(ConfigFileError::MissingValue(flag)),
        };
        match name.as_str() {
            "--no-config-file" => f.no_config_file = true,
            "--config-file" => f.config_file = Some(value("--config-file")?.into()),
            "--only-config-file" => f.only_config_file = Some(value("--only-config-file")?.into()),
            "--instance" => f.instance = Some(value("--instance")?),
            "-i" | "-d" | "--input" | "--input-file" | "--directory" | "--directory-list"
            | "--backup" => f.has_source = true,
            s if (s.starts_with("-i") || s.starts_with("-d")) && !s.starts_with("--") => {
                f.has_source = true
            }
            _ => {}
        }
    }
    Ok(f)
}

fn expand_home(p: &str) -> Option<PathBuf> {
    match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(|h| Path::new(&h).join(rest)),
        None => Some(PathBuf::from(p)),
    }
}

/// The command line with the configuration files' options put in front of the real ones.
pub fn expand_args(args: Vec<OsString>) -> Result<Vec<OsString>, ConfigFileError> {
    let flags = scan(&args)?;
    if flags.config_file.is_some() && flags.only_config_file.is_some() {
        return Err(ConfigFileError::Conflict);
    }
    if flags.no_config_file {
        return Ok(args);
    }
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    match &flags.only_config_file {
        Some(p) => files.push((p.clone(), true)),
        None => {
            files.extend(
                DEFAULT_FILES
                    .iter()
                    .filter_map(|p| expand_home(p))
                    .map(|p| (p, false)),
            );
            if let Some(p) = &flags.config_file {
                files.push((p.clone(), true));
            }
        }
    }
    let mut reader = Reader {
        instance: flags.instance.clone(),
        drop_sources: flags.has_source,
        out: Vec::new(),
    };
    for (path, required) in files {
        reader.read_file(&path, required, 0)?;
    }
    let mut out = Vec::with_capacity(args.len() + reader.out.len());
    let mut args = args.into_iter();
    out.extend(args.next());
    out.extend(reader.out.into_iter().map(OsString::from));
    out.extend(args);
    Ok(out)
}

struct Reader {
    instance: Option<String>,
    drop_sources: bool,
    out: Vec<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Reader {
    fn section_names(&self) -> (String, String) {
        match &self.instance {
            Some(i) => (format!("cluster_{i}"), format!("asrestore_{i}")),
            None => ("cluster".into(), "asrestore".into()),
        }
    }

    fn read_file(
        &mut self,
        path: &Path,
        required: bool,
        depth: usize,
    ) -> Result<(), ConfigFileError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ConfigFileError::Read {
                    path: shown,
                    message: e.to_string(),
                });
            }
        };
        tracing::debug!(file = %shown, "reading configuration file");
        let doc = DeTable::parse(&text).map_err(|e| ConfigFileError::At {
            path: shown.clone(),
            line: line_of(&text, e.span().map_or(0, |s| s.start)),
            message: format!("invalid TOML: {}", e.message().trim()),
        })?;
        let at = |offset: usize, message: String| ConfigFileError::At {
            path: shown.clone(),
            line: line_of(&text, offset),
            message,
        };
        let (cluster, restore) = self.section_names();
        for (name, value) in doc.get_ref() {
            let section = name.get_ref().as_ref();
            let allowed: &[&str] = if section == cluster {
                CLUSTER_KEYS
            } else if section == restore {
                RESTORE_KEYS
            } else if section == "include" {
                &["file", "directory"]
            } else {
                // Another tool's section of a shared astools.conf.
                continue;
            };
            let DeValue::Table(table) = value.get_ref() else {
                return Err(at(
                    name.span().start,
                    format!("{section:?} must be a section ([{section}])"),
                ));
            };
            for (key, v) in table {
                let raw_key = key.get_ref().as_ref();
                let k = raw_key.replace('_', "-");
                if !allowed.contains(&k.as_str()) {
                    return Err(at(
                        key.span().start,
                        format!("unknown key {raw_key:?} in section [{section}]"),
                    ));
                }
                if section == "include" {
                    self.include(&k, v, path, depth, &at)?;
                    continue;
                }
                if self.drop_sources && SOURCE_KEYS.contains(&k.as_str()) {
                    continue;
                }
                self.push_option(&text, &k, raw_key, section, v, &at)?;
            }
        }
        Ok(())
    }

    fn push_option(
        &mut self,
        text: &str,
        key: &str,
        raw_key: &str,
        section: &str,
        v: &Spanned<DeValue<'_>>,
        at: &dyn Fn(usize, String) -> ConfigFileError,
    ) -> Result<(), ConfigFileError> {
        let value = match v.get_ref() {
            DeValue::Boolean(true) => {
                self.out.push(format!("--{key}"));
                return Ok(());
            }
            DeValue::Boolean(false) => return Ok(()),
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(_) | DeValue::Float(_) => text
                .get(v.span())
                .map(|s| s.trim().replace('_', ""))
                .unwrap_or_default(),
            _ => {
                return Err(at(
                    v.span().start,
                    format!(
                        "key {raw_key:?} in section [{section}]: expected a string, number or \
                         boolean"
                    ),
                ));
            }
        };
        self.out.push(format!("--{key}={value}"));
        Ok(())
    }

    fn include(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        from: &Path,
        depth: usize,
        at: &dyn Fn(usize, String) -> ConfigFileError,
    ) -> Result<(), ConfigFileError> {
        let DeValue::String(s) = v.get_ref() else {
            return Err(at(
                v.span().start,
                format!("key {key:?} in section [include]: expected a path string"),
            ));
        };
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(at(
                v.span().start,
                format!("[include] nested more than {MAX_INCLUDE_DEPTH} deep"),
            ));
        }
        let p = expand_home(s).unwrap_or_else(|| PathBuf::from(s.as_ref()));
        let p = if p.is_relative() {
            from.parent().unwrap_or(Path::new(".")).join(p)
        } else {
            p
        };
        if key == "file" {
            return self.read_file(&p, true, depth + 1);
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
            .map_err(|e| at(v.span().start, format!("[include] directory {s:?}: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for e in entries {
            self.read_file(&e, true, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn scan_finds_the_file_flags() {
        let f = scan(&args("restorer --config-file=a.conf --instance x -i f.asb")).unwrap();
        assert_eq!(f.config_file, Some(PathBuf::from("a.conf")));
        assert_eq!(f.instance.as_deref(), Some("x"));
        assert!(f.has_source);
        assert!(scan(&args("restorer --only-config-file")).is_err());
        assert!(
            scan(&args("restorer --no-config-file"))
                .unwrap()
                .no_config_file
        );
    }

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
