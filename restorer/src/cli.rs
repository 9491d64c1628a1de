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

/// `restorer`: restore Aerospike `.asb` backups, like asrestore.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "restorer",
    version,
    disable_help_flag = true,
    args_override_self = true,
    about
)]
#[command(group(ArgGroup::new("source").required(true).args(["input", "directory", "backup"])))]
#[command(group(ArgGroup::new("encryption_key").args(["encryption_key_file", "encryption_key_env"])))]
pub struct Cli {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// Seed hosts: HOST[:PORT][,HOST[:PORT]...].
    #[arg(short = 'h', long = "host", default_value = "127.0.0.1")]
    pub host: String,
    /// Default port for seeds given without one.
    #[arg(short = 'p', long, default_value_t = 3000)]
    pub port: u16,
    /// User name for authentication.
    #[arg(short = 'U', long)]
    pub user: Option<String>,
    /// Password (or env AEROSPIKE_PASSWORD).
    #[arg(short = 'P', long, env = "AEROSPIKE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Connect with TLS.
    #[arg(long)]
    pub tls_enable: bool,
    /// TLS name of the seeds (defaults to the host name).
    #[arg(long)]
    pub tls_name: Option<String>,
    /// PEM file with the CA certificates to trust (default: the system's roots).
    #[arg(long)]
    pub tls_cafile: Option<PathBuf>,

    /// One backup file: local path, `-` for stdin, or gs:// s3:// az:// file:// URL.
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,
    /// Every *.asb / *.asb.gz / *.asb.zst under this directory or prefix.
    #[arg(short = 'd', long = "directory")]
    pub directory: Option<String>,
    /// Operator mode: reads `<prefix>.json` (metadata) and `<prefix>.asb.gz`.
    #[arg(long)]
    pub backup: Option<String>,
    /// Backup metadata JSON (`{"namespace":"..."}`).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Base URL of an object-store emulator or S3-compatible store.
    #[arg(long)]
    pub storage_endpoint: Option<String>,

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
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
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

    /// Files restored at the same time in directory mode.
    #[arg(short = 't', long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=4096))]
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
    #[arg(long, default_value_t = 0)]
    pub tps: u32,
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
    /// Accepted for asrestore compatibility.
    #[arg(long)]
    pub no_config_file: bool,
    /// More logging.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// A command line that is syntactically valid but makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `-n` with more than two names, or an empty one.
    #[error("invalid --namespace {0:?}: expected SRC or SRC,DST with names of 1..31 bytes")]
    Namespace(String),
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
