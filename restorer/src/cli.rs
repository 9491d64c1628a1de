//! The command line (DESIGN §3): asrestore's flag names and meanings.
// The field docs are the `--help` text, with usage brackets such as `HOST[:PORT]`.
#![allow(rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{ArgGroup, Parser, ValueEnum};

/// Default path of the Kubernetes termination message.
pub const TERMINATION_LOG: &str = "/dev/termination-log";

/// Output format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// `time="..." level=info msg="..."`, as the reference operator's pods log.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// `-z/--compress` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressArg {
    /// zstd, as written by `asbackup -z zstd`.
    Zstd,
    /// Not compressed.
    None,
}

/// `-y/--encrypt` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncryptArg {
    /// AES-128 (CTR), as written by `asbackup -y aes128`.
    Aes128,
    /// AES-256 (CTR), as written by `asbackup -y aes256`.
    Aes256,
}

/// `-A/--auth` values (asrestore's names, any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// User and password checked by the server (the default).
    #[value(name = "INTERNAL", alias = "internal")]
    Internal,
    /// External (LDAP) authentication; the password is sent in clear, so TLS is required.
    #[value(name = "EXTERNAL", alias = "external")]
    External,
    /// External authentication without TLS (the password travels in clear: testing only).
    #[value(name = "EXTERNAL_INSECURE", alias = "external_insecure")]
    ExternalInsecure,
    /// The client certificate authenticates (needs --tls-enable, --tls-certfile, --tls-keyfile).
    #[value(name = "PKI", alias = "pki")]
    Pki,
}

/// `restorer`: restore Aerospike `.asb` backups, like asrestore.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "restorer",
    version,
    disable_help_flag = true,
    args_override_self = true,
    about
)]
#[command(group(ArgGroup::new("source").required(true).args(["input", "directory", "directory_list", "backup"])))]
#[command(group(ArgGroup::new("encryption_key").args(["encryption_key_file", "encryption_key_env"])))]
pub struct Cli {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Print help (asrestore's -Z/--usage).
    #[arg(short = 'Z', long = "usage", action = clap::ArgAction::Help)]
    pub usage: Option<bool>,
    /// Print help (asrestore's -O/--options).
    #[arg(short = 'O', long = "options", action = clap::ArgAction::Help)]
    pub options: Option<bool>,

    /// Seed hosts: HOST[:TLSNAME][:PORT][,...] (the TLS name is used with --tls-enable).
    #[arg(short = 'h', long = "host", default_value = "127.0.0.1")]
    pub host: String,
    /// Default port for seeds given without one.
    #[arg(short = 'p', long, default_value_t = 3000)]
    pub port: u16,
    /// User name for authentication.
    #[arg(short = 'U', long)]
    pub user: Option<String>,
    /// Password (or env AEROSPIKE_PASSWORD); -P without a value prompts on the terminal.
    #[arg(short = 'P', long, num_args = 0..=1, value_name = "PASSWORD")]
    pub password: Option<Option<String>>,
    /// Authentication mode with --user: INTERNAL, EXTERNAL, EXTERNAL_INSECURE or PKI.
    #[arg(short = 'A', long, value_enum, value_name = "MODE", ignore_case = true)]
    pub auth: Option<AuthArg>,
    /// Connect to the nodes' alternate-access-address (services-alternate) instead of their
    /// access-address.
    #[arg(short = 'S', long)]
    pub services_alternate: bool,
    /// Connect with TLS.
    #[arg(long)]
    pub tls_enable: bool,
    /// TLS name of the seeds (defaults to the host name).
    #[arg(long)]
    pub tls_name: Option<String>,
    /// PEM file with the CA certificates to trust (default: the system's roots).
    #[arg(long)]
    pub tls_cafile: Option<PathBuf>,
    /// Directory of trusted CA certificates (every PEM file in it); CRLs for
    /// --tls-crl-check(all) are read from here too.
    #[arg(long, value_name = "DIR")]
    pub tls_capath: Option<PathBuf>,
    /// TLS protocol selection, Apache SSLProtocol syntax, e.g. "TLSv1.2", "-all +TLSv1.3"
    /// (TLS 1.2 and 1.3 only; older versions are refused).
    #[arg(long, value_name = "PROTOCOLS")]
    pub tls_protocols: Option<String>,
    /// TLS cipher suites, OpenSSL list syntax with IANA or OpenSSL names separated by ':'
    /// (only suites this TLS library implements).
    #[arg(long, value_name = "CIPHERS")]
    pub tls_cipher_suite: Option<String>,
    /// PEM certificate chain for mutual TLS (with --tls-keyfile).
    #[arg(long, value_name = "PATH", requires = "tls_keyfile")]
    pub tls_certfile: Option<PathBuf>,
    /// PEM private key for mutual TLS (with --tls-certfile).
    #[arg(long, value_name = "PATH", requires = "tls_certfile")]
    pub tls_keyfile: Option<PathBuf>,
    /// Password of an encrypted --tls-keyfile: env:VAR, file:PATH or the password itself;
    /// without a value it is asked on the terminal.
    #[arg(long, num_args = 0..=1, value_name = "PASSWORD", requires = "tls_keyfile")]
    pub tls_keyfile_password: Option<Option<String>>,
    /// Check the server's leaf certificate against the CRLs in --tls-capath.
    #[arg(long, requires = "tls_capath")]
    pub tls_crl_check: bool,
    /// Check the server's whole certificate chain against the CRLs in --tls-capath.
    #[arg(long, requires = "tls_capath")]
    pub tls_crl_checkall: bool,
    /// Refused: certificate blacklists are deprecated in asrestore; use CRLs
    /// (--tls-crl-check with --tls-capath).
    #[arg(
        long = "tls-cert-blacklist",
        alias = "tls-cert-blackList",
        value_name = "PATH"
    )]
    pub tls_cert_blacklist: Option<PathBuf>,
    /// Log each TLS session's protocol version and cipher suite.
    #[arg(long)]
    pub tls_log_session_info: bool,

    /// One backup file: local path, `-` for stdin, or gs:// s3:// az:// file:// URL.
    #[arg(short = 'i', long = "input", visible_alias = "input-file")]
    pub input: Option<String>,
    /// Every *.asb / *.asb.gz / *.asb.zst under this directory or prefix.
    #[arg(short = 'd', long = "directory")]
    pub directory: Option<String>,
    /// Directories (or object-store prefixes) whose backup files are all restored, comma
    /// separated (paths may not contain commas).
    #[arg(long, value_name = "DIR1[,DIR2...]")]
    pub directory_list: Option<String>,
    /// Prepended (with a '/') to every --directory-list entry.
    #[arg(long, value_name = "DIR", requires = "directory_list")]
    pub parent_directory: Option<String>,
    /// Operator mode: reads `<prefix>.json` (metadata) and `<prefix>.asb.gz`.
    #[arg(long)]
    pub backup: Option<String>,
    /// Backup metadata JSON (`{"namespace":"..."}`).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Base URL of an object-store emulator or S3-compatible store.
    #[arg(long)]
    pub storage_endpoint: Option<String>,
    /// S3 region of the bucket(s) (else AWS_REGION / AWS_DEFAULT_REGION).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Refused: AWS credential profiles are not read; use the AWS_* environment.
    #[arg(long, value_name = "NAME")]
    pub s3_profile: Option<String>,
    /// Alternate S3 endpoint URL (same as --storage-endpoint for s3:// inputs).
    #[arg(long, value_name = "URL", conflicts_with = "storage_endpoint")]
    pub s3_endpoint_override: Option<String>,
    /// Accepted tuning hint: each file is one streamed download here.
    #[arg(long, value_name = "N")]
    pub s3_max_async_downloads: Option<u32>,
    /// Accepted: the AWS C++ SDK's log level has no equivalent (object-store requests are
    /// logged with -v).
    #[arg(long, value_name = "LEVEL")]
    pub s3_log_level: Option<String>,
    /// Connect timeout of object-store requests in ms.
    #[arg(long, value_name = "MS")]
    pub s3_connect_timeout: Option<u64>,
    /// Refused: the system proxy variables cannot be switched on for object-store requests.
    #[arg(long)]
    pub s3_allow_system_proxy: bool,

    /// Compression of the backup files, as given to asbackup -z. gzip and zstd are detected
    /// from the data either way (after decryption); a mismatch with this flag is logged.
    #[arg(short = 'z', long = "compress", value_enum, value_name = "ALGORITHM")]
    pub compress: Option<CompressArg>,
    /// Decrypt backup files written with asbackup -y/--encrypt (AES-CTR), with the key given by
    /// --encryption-key-file or --encryption-key-env.
    #[arg(
        short = 'y',
        long = "encrypt",
        value_enum,
        value_name = "ALGORITHM",
        requires = "encryption_key"
    )]
    pub encrypt: Option<EncryptArg>,
    /// The PEM private key the backup was encrypted with (asbackup --encryption-key-file).
    #[arg(long, value_name = "PATH", requires = "encrypt")]
    pub encryption_key_file: Option<PathBuf>,
    /// An environment variable holding the key material in base64, one line (asbackup
    /// --encryption-key-env).
    #[arg(long, value_name = "VAR", requires = "encrypt")]
    pub encryption_key_env: Option<String>,

    /// SRC[,DST]: one name = records must be in SRC; two = rename SRC to DST.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Rename from the backup's own namespace (metadata, else `# namespace`) to DST.
    #[arg(long, conflicts_with = "namespace")]
    pub target_namespace: Option<String>,

    /// Only create records; existing ones are left alone (counted as existed).
    #[arg(short = 'u', long, conflicts_with_all = ["replace", "no_generation"])]
    pub unique: bool,
    /// Replace whole records instead of updating their bins.
    #[arg(short = 'r', long)]
    pub replace: bool,
    /// Do not check generations.
    #[arg(short = 'g', long)]
    pub no_generation: bool,
    /// Continue after record-specific write errors.
    #[arg(long)]
    pub ignore_record_error: bool,
    /// Seconds added to the TTL of expiring records (0..2^31-1).
    #[arg(short = 'l', long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub extra_ttl: u32,

    /// Only restore these bins (comma separated).
    #[arg(short = 'B', long)]
    pub bin_list: Option<String>,
    /// Only restore records and indexes of these sets (comma separated).
    #[arg(short = 's', long)]
    pub set_list: Option<String>,
    /// Do not restore records.
    #[arg(short = 'R', long)]
    pub no_records: bool,
    /// Do not restore secondary indexes.
    #[arg(short = 'I', long)]
    pub no_indexes: bool,
    /// Do not restore UDFs.
    #[arg(short = 'F', long)]
    pub no_udfs: bool,
    /// Create secondary indexes after all records are written.
    #[arg(short = 'L', long)]
    pub indexes_last: bool,

    /// Files restored at the same time in directory mode (--threads: deprecated alias).
    #[arg(short = 't', long, alias = "threads", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub parallel: u32,
    /// Records per batch (default 128 with batch writes, 16 without).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// Batches in flight across all files.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_async_batches: u32,
    /// Write records with single puts even if the cluster supports batch writes.
    #[arg(long)]
    pub disable_batch_writes: bool,
    /// Batch writes through the restorer's own encoder (`auto`: unless TLS or authentication
    /// is on) or always through the Aerospike client library (`client`).
    #[arg(long, value_enum, default_value_t = crate::writer::WritePath::Auto, hide = true)]
    pub write_path: crate::writer::WritePath,
    /// Maximum records written per second (0 = unlimited).
    #[arg(long, default_value_t = 0, conflicts_with_all = ["records_per_second", "nice"])]
    pub tps: u32,
    /// BANDWIDTH,TPS: at most BANDWIDTH MiB/s read from the backup files and TPS records
    /// written per second (asrestore -N; both values required).
    #[arg(short = 'N', long, value_name = "MIB_S,TPS", conflicts_with_all = ["bandwidth", "records_per_second"])]
    pub nice: Option<String>,
    /// At most this many MiB/s read from the backup files (absctl --bandwidth).
    #[arg(long, value_name = "MIB_S", value_parser = clap::value_parser!(u64).range(1..))]
    pub bandwidth: Option<u64>,
    /// At most this many records written per second (absctl --records-per-second).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub records_per_second: Option<u32>,
    /// Accepted tuning hint (the C client's event loops): this restorer's async runtime sizes
    /// itself.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub event_loops: Option<u32>,
    /// Connect/info timeout and write total timeout fallback, in ms.
    #[arg(short = 'T', long, default_value_t = 10_000)]
    pub timeout: u32,
    /// Socket timeout of writes, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub socket_timeout: u32,
    /// Total timeout of writes, in ms (0 = --timeout).
    #[arg(long, default_value_t = 0)]
    pub total_timeout: u32,
    /// Retries of a failed write transaction.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,
    /// Retry backoff scale in microseconds (delays 0, s, 2s, 4s, ...).
    #[arg(long, default_value_t = 150_000)]
    pub retry_scale_factor: u64,

    /// Wait until the restored secondary indexes are built and the restored UDFs are on every
    /// node before exiting.
    #[arg(short = 'w', long)]
    pub wait: bool,
    /// Machine-readable PROGRESS:, REMAINING: and SUMMARY: lines appended to this file or FIFO.
    #[arg(short = 'm', long, value_name = "PATH")]
    pub machine: Option<PathBuf>,

    /// Parse and count only; no cluster needed.
    #[arg(long)]
    pub validate: bool,
    /// Read, decompress, parse and transform, but write nothing (for benchmarks).
    #[arg(long, hide = true, conflicts_with = "validate")]
    pub dry_run: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where the summary JSON goes (written only if the file exists, unless given explicitly).
    #[arg(long, env = "RESTORER_TERMINATION_LOG", hide = true)]
    pub termination_log: Option<PathBuf>,
    /// Do not read any configuration file.
    #[arg(long, conflicts_with = "only_config_file")]
    pub no_config_file: bool,
    /// Read this TOML file after /etc/aerospike/astools.conf and ~/.aerospike/astools.conf.
    #[arg(long, value_name = "PATH")]
    pub config_file: Option<PathBuf>,
    /// Read only this TOML file.
    #[arg(long, value_name = "PATH", conflicts_with = "config_file")]
    pub only_config_file: Option<PathBuf>,
    /// Read the sections [cluster_NAME] and [asrestore_NAME] instead of [cluster], [asrestore].
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Refused: the Aerospike secret agent is not supported.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub sa_address: Option<String>,
    /// Refused: the Aerospike secret agent is not supported.
    #[arg(long, value_name = "PORT")]
    pub sa_port: Option<String>,
    /// Refused: the Aerospike secret agent is not supported.
    #[arg(long, value_name = "MS")]
    pub sa_timeout: Option<String>,
    /// Refused: the Aerospike secret agent is not supported.
    #[arg(long, value_name = "PATH")]
    pub sa_cafile: Option<String>,
    /// More logging.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// `--shard`, `--shard-count`, `--resume`, `--checkpoint-interval`.
    #[command(flatten)]
    pub resume: crate::checkpoint::ResumeArgs,
}

/// A command line that is syntactically valid but makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `-n` with more than two names, or an empty one.
    #[error("invalid --namespace {0:?}: expected SRC or SRC,DST with names of 1..31 bytes")]
    Namespace(String),
    /// `-N` is not `MIB_S,TPS` with two positive integers.
    #[error(
        "invalid --nice {0:?}: expected BANDWIDTH,TPS (MiB/s and records/s, both positive integers)"
    )]
    Nice(String),
    /// An option this restorer cannot honour.
    #[error("{flag} is not supported: {why}")]
    Refused {
        /// The option.
        flag: &'static str,
        /// Why, and what to use instead.
        why: &'static str,
    },
    /// An option given without the one it only makes sense with.
    #[error("{flag} needs {needs}")]
    Needs {
        /// The option given.
        flag: &'static str,
        /// The option missing.
        needs: &'static str,
    },
    /// An empty entry in `--directory-list`.
    #[error("invalid --directory-list {0:?}: empty entry")]
    DirectoryList(String),
    /// An item of `--bin-list` / `--set-list` is empty or too long.
    #[error("invalid {flag} item {item:?}: expected 1..{max} bytes")]
    ListItem {
        /// The flag.
        flag: &'static str,
        /// The bad item.
        item: String,
        /// Maximum length.
        max: usize,
    },
}

/// `-N BANDWIDTH,TPS`: (MiB/s, records/s), both required and positive.
pub fn parse_nice(s: &str) -> Result<(u64, u32), CliError> {
    let bad = || CliError::Nice(s.to_string());
    let (bw, tps) = s.split_once(',').ok_or_else(bad)?;
    let bw: u64 = bw.trim().parse().map_err(|_| bad())?;
    let tps: u32 = tps.trim().parse().map_err(|_| bad())?;
    if bw == 0 || tps == 0 {
        return Err(bad());
    }
    Ok((bw, tps))
}

/// The throttles from `-N`, `--bandwidth`, `--records-per-second` and `--tps`: (bytes read per
/// second, records written per second), 0 = unlimited.
pub fn throttles(c: &Cli) -> Result<(u64, u32), CliError> {
    const MIB: u64 = 1024 * 1024;
    if let Some(n) = &c.nice {
        let (bw, tps) = parse_nice(n)?;
        return Ok((bw.saturating_mul(MIB), tps));
    }
    let bw = c.bandwidth.map_or(0, |b| b.saturating_mul(MIB));
    let tps = c.records_per_second.unwrap_or(c.tps);
    Ok((bw, tps))
}

/// `--directory-list` entries with `--parent-directory` prepended (a '/' is added between
/// them when the parent does not end in one).
pub fn directory_list(c: &Cli) -> Result<Option<Vec<String>>, CliError> {
    let Some(list) = &c.directory_list else {
        if c.parent_directory.is_some() {
            return Err(CliError::Needs {
                flag: "--parent-directory",
                needs: "--directory-list",
            });
        }
        return Ok(None);
    };
    list.split(',')
        .map(|d| {
            if d.is_empty() {
                return Err(CliError::DirectoryList(list.clone()));
            }
            Ok(match &c.parent_directory {
                Some(p) if p.ends_with('/') => format!("{p}{d}"),
                Some(p) => format!("{p}/{d}"),
                None => d.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Refuses the options this restorer cannot honour (with why and what to use instead);
/// returns warnings for the accepted tuning hints that change nothing here.
pub fn check_supported(c: &Cli) -> Result<Vec<String>, CliError> {
    let refuse = |flag, why| Err(CliError::Refused { flag, why });
    if c.s3_profile.is_some() {
        return refuse(
            "--s3-profile",
            "AWS credential profiles are not read; set AWS_ACCESS_KEY_ID / \
             AWS_SECRET_ACCESS_KEY (or the web-identity / instance-metadata environment)",
        );
    }
    if c.s3_allow_system_proxy {
        return refuse(
            "--s3-allow-system-proxy",
            "object-store requests do not go through the system proxy variables",
        );
    }
    if c.tls_cert_blacklist.is_some() {
        return refuse(
            "--tls-cert-blacklist",
            "certificate blacklists are deprecated; use --tls-crl-check with CRLs in --tls-capath",
        );
    }
    if c.sa_address.is_some()
        || c.sa_port.is_some()
        || c.sa_timeout.is_some()
        || c.sa_cafile.is_some()
    {
        return refuse(
            "--sa-*",
            "the Aerospike secret agent is not supported; pass values directly, through \
             environment variables or a configuration file",
        );
    }
    let secret_values = [
        Some(&c.host),
        c.user.as_ref(),
        c.password.as_ref().and_then(Option::as_ref),
        c.namespace.as_ref(),
        c.tls_keyfile_password.as_ref().and_then(Option::as_ref),
    ];
    if secret_values
        .into_iter()
        .flatten()
        .any(|v| v.starts_with("secrets:"))
    {
        return refuse(
            "secrets:<resource>:<name> values",
            "the Aerospike secret agent is not supported",
        );
    }
    let mut warnings = Vec::new();
    if let Some(n) = c.event_loops {
        warnings.push(format!(
            "--event-loops {n} is a C client tuning hint with no equivalent here: ignored"
        ));
    }
    if let Some(n) = c.s3_max_async_downloads {
        warnings.push(format!(
            "--s3-max-async-downloads {n} is a tuning hint: each file is read as one streamed \
             download (up to --parallel at once); ignored"
        ));
    }
    if let Some(l) = &c.s3_log_level {
        warnings.push(format!(
            "--s3-log-level {l} applies to the AWS C++ SDK: ignored (use -v for request logs)"
        ));
    }
    Ok(warnings)
}

/// `-n SRC[,DST]` split and checked.
pub fn parse_namespace_option(s: &str) -> Result<(String, Option<String>), CliError> {
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    let ok = |n: &str| (1..=31).contains(&n.len());
    match items.as_slice() {
        [src] if ok(src) => Ok((src.to_string(), None)),
        [src, dst] if ok(src) && ok(dst) => Ok((src.to_string(), Some(dst.to_string()))),
        _ => Err(CliError::Namespace(s.to_string())),
    }
}

/// A comma-separated list option, items trimmed, each 1..=max bytes.
pub fn parse_list(flag: &'static str, s: &str, max: usize) -> Result<Vec<String>, CliError> {
    s.split(',')
        .map(str::trim)
        .map(|item| {
            if (1..=max).contains(&item.len()) {
                Ok(item.to_string())
            } else {
                Err(CliError::ListItem {
                    flag,
                    item: item.to_string(),
                    max,
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_h_is_host_and_help_is_long_only() {
        let c = Cli::try_parse_from(["restorer", "-h", "db1:3100", "-i", "x.asb"]).unwrap();
        assert_eq!(c.host, "db1:3100");
        let e = Cli::try_parse_from(["restorer", "--help"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
    }

    #[test]
    fn one_source_is_required_and_sources_exclude_each_other() {
        assert!(Cli::try_parse_from(["restorer"]).is_err());
        assert!(Cli::try_parse_from(["restorer", "-i", "a", "-d", "b"]).is_err());
        let c = Cli::try_parse_from(["restorer", "--backup", "gs://b/x"]).unwrap();
        assert_eq!(c.backup.as_deref(), Some("gs://b/x"));
    }

    #[test]
    fn unique_excludes_replace_and_no_generation() {
        assert!(Cli::try_parse_from(["restorer", "-i", "a", "-u", "-r"]).is_err());
        assert!(Cli::try_parse_from(["restorer", "-i", "a", "-u", "-g"]).is_err());
        assert!(Cli::try_parse_from(["restorer", "-i", "a", "-r", "-g"]).is_ok());
    }

    #[test]
    fn extra_ttl_range() {
        assert!(Cli::try_parse_from(["restorer", "-i", "a", "--extra-ttl", "2147483648"]).is_err());
        let c = Cli::try_parse_from(["restorer", "-i", "a", "--extra-ttl", "2147483647"]).unwrap();
        assert_eq!(c.extra_ttl, i32::MAX as u32);
    }

    #[test]
    fn encryption_flags_go_together() {
        let parse = |line: &str| Cli::try_parse_from(line.split(' '));
        let c = parse("restorer -i a -z zstd -y aes256 --encryption-key-file k.pem").unwrap();
        assert_eq!(c.compress, Some(CompressArg::Zstd));
        assert_eq!(c.encrypt, Some(EncryptArg::Aes256));
        assert_eq!(c.encryption_key_file, Some(PathBuf::from("k.pem")));
        let c = parse("restorer -i a --encrypt aes128 --encryption-key-env K").unwrap();
        assert_eq!(c.encryption_key_env.as_deref(), Some("K"));
        let c = parse("restorer -i a --compress none").unwrap();
        assert_eq!(c.compress, Some(CompressArg::None));
        // -y needs a key, a key needs -y, and one key source only.
        assert!(parse("restorer -i a -y aes256").is_err());
        assert!(parse("restorer -i a --encryption-key-file k").is_err());
        assert!(
            parse("restorer -i a -y aes128 --encryption-key-file k --encryption-key-env K")
                .is_err()
        );
        assert!(parse("restorer -i a -y des --encryption-key-env K").is_err());
        assert!(parse("restorer -i a -z gzip").is_err());
    }

    #[test]
    fn namespace_option_forms() {
        assert_eq!(parse_namespace_option("a").unwrap(), ("a".into(), None));
        assert_eq!(
            parse_namespace_option(" a , b ").unwrap(),
            ("a".into(), Some("b".into()))
        );
        assert!(parse_namespace_option("a,b,c").is_err());
        assert!(parse_namespace_option("a,").is_err());
        assert!(parse_namespace_option(&"x".repeat(32)).is_err());
    }

    #[test]
    fn list_items_are_trimmed_and_checked() {
        assert_eq!(parse_list("--bin-list", "a, b", 15).unwrap(), ["a", "b"]);
        assert!(parse_list("--bin-list", "a,,b", 15).is_err());
        assert!(parse_list("--bin-list", &"b".repeat(16), 15).is_err());
    }
}
