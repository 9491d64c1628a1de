//! The restorer's top level: command line -> run -> summary, termination message, exit status.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::cli::{self, AuthArg, Cli, CompressArg, EncryptArg, LogFormat, TERMINATION_LOG};
use crate::decompress::{Cipher, Compression, DecodeOptions, EncryptionKey};
use crate::pipeline::{self, Config, Inputs, NamespaceOptions};
use crate::report::{self, TerminationMessage};
use crate::source::{Location, StorageOptions};
use crate::stats::{self, Counters};
use crate::transform::TransformOptions;
use crate::writer::client::{self, Auth, ConnectOptions, CrlCheck, TlsOptions};
use crate::writer::{Mode, WriteOptions, Writer};

/// Batch size with batch writes (asrestore's default).
const BATCH_SIZE_BATCH: usize = 128;
/// Batch size with single puts (asrestore's default).
const BATCH_SIZE_SINGLE: usize = 16;

fn location(s: &str) -> anyhow::Result<Location> {
    s.parse::<Location>()
        .map_err(|e: crate::source::SourceError| anyhow::anyhow!(e))
}

/// The `-z` / `-y` flags, with the key read and derived.
fn decode_options(c: &Cli) -> anyhow::Result<DecodeOptions> {
    let cipher = c.encrypt.map(|y| match y {
        EncryptArg::Aes128 => Cipher::Aes128,
        EncryptArg::Aes256 => Cipher::Aes256,
    });
    let key = match (cipher, &c.encryption_key_file, &c.encryption_key_env) {
        (None, _, _) => None,
        (Some(cipher), Some(path), _) => Some(EncryptionKey::from_key_file(cipher, path)?),
        (Some(cipher), None, Some(var)) => Some(EncryptionKey::from_env(cipher, var)?),
        (Some(_), None, None) => {
            anyhow::bail!("-y/--encrypt needs --encryption-key-file or --encryption-key-env")
        }
    };
    Ok(DecodeOptions {
        encryption: key.map(Arc::new),
        compression: c.compress.map(|z| match z {
            CompressArg::Zstd => Compression::Zstd,
            CompressArg::None => Compression::None,
        }),
    })
}

/// Builds the run configuration from the command line.
pub fn config(c: &Cli, batch_mode: bool) -> anyhow::Result<Config> {
    let dirs = cli::directory_list(c)?;
    let inputs = match (&c.input, &c.directory, &c.backup, dirs) {
        (Some(i), _, _, _) => Inputs::File(location(i)?),
        (_, Some(d), _, _) => Inputs::Directory(location(d)?),
        (_, _, Some(b), _) => Inputs::Backup(location(b)?),
        (_, _, _, Some(list)) => Inputs::Directories(
            list.iter()
                .map(|d| location(d))
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        _ => anyhow::bail!("one of -i, -d, --directory-list or --backup is required"),
    };
    let (bandwidth, tps) = cli::throttles(c)?;
    let namespace = NamespaceOptions {
        namespace: c
            .namespace
            .as_deref()
            .map(cli::parse_namespace_option)
            .transpose()?,
        target: c.target_namespace.clone(),
    };
    let transform = TransformOptions {
        bin_list: c
            .bin_list
            .as_deref()
            .map(|s| cli::parse_list("--bin-list", s, 15))
            .transpose()?
            .map(|v| pipeline::name_set(&v)),
        set_list: c
            .set_list
            .as_deref()
            .map(|s| cli::parse_list("--set-list", s, 63))
            .transpose()?
            .map(|v| pipeline::name_set(&v)),
        extra_ttl: c.extra_ttl,
    };
    let default_batch = if batch_mode {
        BATCH_SIZE_BATCH
    } else {
        BATCH_SIZE_SINGLE
    };
    Ok(Config {
        inputs,
        metadata: c.metadata.as_deref().map(location).transpose()?,
        storage: StorageOptions {
            endpoint: c
                .storage_endpoint
                .clone()
                .or_else(|| c.s3_endpoint_override.clone()),
            config: c
                .s3_region
                .iter()
                .map(|r| ("aws_region".to_string(), r.clone()))
                .collect(),
            ..Default::default()
        },
        namespace,
        transform,
        no_records: c.no_records,
        no_indexes: c.no_indexes,
        no_udfs: c.no_udfs,
        indexes_last: c.indexes_last,
        parallel: c.parallel as usize,
        batch_size: c.batch_size.map_or(default_batch, |b| b as usize),
        max_async_batches: c.max_async_batches as usize,
        tps,
        bandwidth,
        decode: decode_options(c)?,
    })
}

/// Reads a secret from the terminal, or explains why it cannot.
fn prompt(what: &str, flag: &str, alternative: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{flag} without a value asks for the {what} on a terminal, but standard input is \
             not one; {alternative}"
        );
    }
    Ok(rpassword::prompt_password(format!("Enter {what}: "))?)
}

/// `-P [PASSWORD]`, else `AEROSPIKE_PASSWORD`.
fn password(c: &Cli) -> anyhow::Result<Option<String>> {
    let env = std::env::var("AEROSPIKE_PASSWORD").ok();
    match &c.password {
        Some(Some(p)) => Ok(Some(p.clone())),
        Some(None) => match env {
            Some(p) => Ok(Some(p)),
            None => prompt(
                "password",
                "-P",
                "give -P PASSWORD or set AEROSPIKE_PASSWORD",
            )
            .map(Some),
        },
        None => Ok(env),
    }
}

/// `--tls-keyfile-password`: `env:VAR`, `file:PATH`, the password itself, or a prompt.
pub fn keyfile_password(spec: Option<&Option<String>>) -> anyhow::Result<Option<String>> {
    match spec {
        None => Ok(None),
        Some(None) => prompt(
            "TLS key file password",
            "--tls-keyfile-password",
            "give --tls-keyfile-password env:VAR, file:PATH or the password",
        )
        .map(Some),
        Some(Some(v)) => {
            if let Some(var) = v.strip_prefix("env:") {
                return std::env::var(var).map(Some).map_err(|_| {
                    anyhow::anyhow!("--tls-keyfile-password env:{var}: {var} is not set")
                });
            }
            if let Some(path) = v.strip_prefix("file:") {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("--tls-keyfile-password file:{path}: {e}"))?;
                return Ok(Some(text.lines().next().unwrap_or("").to_string()));
            }
            Ok(Some(v.clone()))
        }
    }
}

fn connect_options(c: &Cli) -> anyhow::Result<ConnectOptions> {
    let needs_tls = [
        ("--tls-capath", c.tls_capath.is_some()),
        ("--tls-protocols", c.tls_protocols.is_some()),
        ("--tls-cipher-suite", c.tls_cipher_suite.is_some()),
        ("--tls-certfile", c.tls_certfile.is_some()),
        ("--tls-crl-check", c.tls_crl_check),
        ("--tls-crl-checkall", c.tls_crl_checkall),
        ("--tls-name", c.tls_name.is_some()),
        ("--tls-cafile", c.tls_cafile.is_some()),
    ];
    if !c.tls_enable
        && let Some((flag, _)) = needs_tls.iter().find(|(_, given)| *given)
    {
        anyhow::bail!("{flag} needs --tls-enable");
    }
    if c.tls_log_session_info {
        tracing::warn!(
            "--tls-log-session-info: the client library does not expose its TLS sessions; \
             the negotiated protocol and cipher are not logged"
        );
    }
    Ok(ConnectOptions {
        hosts: c.host.clone(),
        port: c.port,
        user: c.user.clone(),
        password: password(c)?,
        tls: c.tls_enable,
        tls_name: c.tls_name.clone(),
        tls_cafile: c.tls_cafile.clone(),
        auth: match c.auth {
            None | Some(AuthArg::Internal) => Auth::Internal,
            Some(AuthArg::External) => Auth::External,
            Some(AuthArg::ExternalInsecure) => Auth::ExternalInsecure,
            Some(AuthArg::Pki) => Auth::Pki,
        },
        services_alternate: c.services_alternate,
        tls_more: TlsOptions {
            capath: c.tls_capath.clone(),
            protocols: c.tls_protocols.clone(),
            cipher_suites: c.tls_cipher_suite.clone(),
            client_cert: c.tls_certfile.clone().zip(c.tls_keyfile.clone()),
            key_password: keyfile_password(c.tls_keyfile_password.as_ref())?,
            crl: if c.tls_crl_checkall {
                Some(CrlCheck::Chain)
            } else if c.tls_crl_check {
                Some(CrlCheck::Leaf)
            } else {
                None
            },
        },
        timeout: c.timeout,
        max_conns_per_node: 0,
    })
}

fn write_options(c: &Cli) -> WriteOptions {
    WriteOptions {
        unique: c.unique,
        replace: c.replace,
        no_generation: c.no_generation,
        ignore_record_error: c.ignore_record_error,
        socket_timeout: c.socket_timeout,
        total_timeout: if c.total_timeout == 0 {
            c.timeout
        } else {
            c.total_timeout
        },
        max_retries: c.max_retries,
        retry_scale: std::time::Duration::from_micros(c.retry_scale_factor),
    }
}

async fn restore(c: &Cli, counters: Arc<Counters>) -> anyhow::Result<()> {
    if c.validate {
        let cfg = config(c, true)?;
        return Ok(pipeline::validate(cfg, counters).await?);
    }
    if c.dry_run {
        let cfg = config(c, true)?;
        let extras = crate::checkpoint::extras(c)?;
        return Ok(pipeline::dry_run_with(cfg, counters, extras).await?);
    }
    // Check the inputs and options before connecting.
    config(c, true)?;
    let extras = crate::checkpoint::extras(c)?;
    let client = client::connect(&connect_options(c)?).await?;
    let batch = !c.disable_batch_writes && client::supports_batch_writes(&client).await;
    let mode = if batch { Mode::Batch } else { Mode::Single };
    tracing::info!(mode = ?mode, "connected to the cluster");
    let cfg = config(c, batch)?;
    let writer = Writer::new(client.clone(), mode, write_options(c), counters.clone())
        .with_write_path(c.write_path);
    let result = pipeline::restore_with(cfg, counters.clone(), writer, extras).await;
    let result = match result {
        Ok(()) if c.wait => crate::wait::wait_for_globals(&client, &counters)
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from),
        other => other.map_err(anyhow::Error::from),
    };
    let _ = client.close().await;
    result
}

/// `-m`: a PROGRESS/REMAINING pair every second, as asrestore writes them (or at the
/// progress interval when that is shorter).
fn spawn_machine_progress(
    m: Arc<crate::machine::Machine>,
    counters: Arc<Counters>,
    start: Instant,
) -> tokio::task::JoinHandle<()> {
    let every = stats::progress_interval().min(std::time::Duration::from_secs(1));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            interval.tick().await;
            m.progress(&counters.snapshot(), start.elapsed());
        }
    })
}

/// Runs the restorer; returns the process exit status (0 success, 1 failure).
pub async fn run(c: Cli) -> i32 {
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let what = if c.validate { "validation" } else { "restore" };
    tracing::info!("{what} is starting");
    let bar = c.log_format == LogFormat::Text && std::io::stderr().is_terminal();
    let machine = match &c.machine {
        None => Ok(None),
        Some(path) => crate::machine::Machine::open(path)
            .map(|m| Some(Arc::new(m)))
            .map_err(|e| anyhow::anyhow!("-m/--machine {}: {e}", path.display())),
    };
    let progress = stats::spawn_progress(counters.clone(), start, bar);
    let machine_progress = match &machine {
        Ok(Some(m)) => Some(spawn_machine_progress(m.clone(), counters.clone(), start)),
        _ => None,
    };
    let result = match (cli::check_supported(&c), machine.as_ref()) {
        (Err(e), _) => Err(e.into()),
        (Ok(_), Err(e)) => Err(anyhow::anyhow!("{e}")),
        (Ok(warnings), Ok(_)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            restore(&c, counters.clone()).await
        }
    };
    progress.abort();
    if let Some(t) = machine_progress {
        t.abort();
    }
    let s = counters.snapshot();
    let error = match &result {
        Ok(()) if s.unaccounted() > 0 && !c.validate && !c.dry_run => Some(format!(
            "{} record(s) were read but never answered by the cluster",
            s.unaccounted()
        )),
        Ok(()) => None,
        Err(e) => Some(format!("{e:#}")),
    };
    tracing::info!("{}", s.totals_line(start.elapsed()));
    if let Ok(Some(m)) = &machine {
        m.progress(&s, start.elapsed());
        m.summary(&s);
    }
    if !c.validate {
        tracing::info!(errors_in_doubt = s.errors_in_doubt, "{}", s.summary_line());
        if s.ignored > 0 {
            tracing::warn!("{} record(s) ignored after record errors", s.ignored);
        }
        if s.skipped_indexes > 0 {
            tracing::info!(
                "Skipped {} index(es) with unwanted set(s)",
                s.skipped_indexes
            );
        }
        if s.matched_indexes > 0 {
            tracing::info!("Skipped {} matched index(es)", s.matched_indexes);
        }
        if s.mismatched_indexes > 0 {
            tracing::error!("Skipped {} mismatched index(es)", s.mismatched_indexes);
        }
        if !c.dry_run {
            let secs = |c: &std::sync::atomic::AtomicU64| {
                c.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9
            };
            tracing::info!(
                "pipeline: parsing waited {:.2} s for write slots, writes waited {:.2} s for \
                 parsing",
                secs(&counters.parser_waited_ns),
                secs(&counters.writers_waited_ns)
            );
            let kib = |c: &std::sync::atomic::AtomicU64| {
                c.load(std::sync::atomic::Ordering::Relaxed).div_ceil(1024)
            };
            tracing::info!(
                peak_write_kib = kib(&counters.peak_write_bytes),
                largest_batch_kib = kib(&counters.largest_batch_bytes),
                "memory: records being written peaked at {} KiB, the largest batch held {} KiB",
                kib(&counters.peak_write_bytes),
                kib(&counters.largest_batch_bytes)
            );
        }
    }
    let (explicit, path) = match &c.termination_log {
        Some(p) => (true, p.clone()),
        None => (false, PathBuf::from(TERMINATION_LOG)),
    };
    if !c.validate
        && let Err(e) = report::write_termination_message(
            &path,
            explicit,
            &TerminationMessage::new(&s, error.clone()),
        )
    {
        tracing::warn!(
            "cannot write the termination message to {}: {e}",
            path.display()
        );
    }
    match error {
        None => {
            tracing::info!("{what} is complete");
            0
        }
        Some(e) => {
            tracing::error!("{what} failed: {e}");
            1
        }
    }
}
