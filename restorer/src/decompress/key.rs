//! The AES key of an `asbackup --encrypt` backup, derived the way asbackup 4.5.8 derives it: the
//! first 16 (aes128) or 32 (aes256) bytes of SHA-256 over the key material.
//!
//! The key material is what asbackup hashes:
//! - `--encryption-key-file PATH`: a PEM private key, re-encoded as OpenSSL's `i2d_PrivateKey`
//!   does: RSA keys as PKCS#1 `RSAPrivateKey` DER (also when the file holds PKCS#8, as
//!   `openssl genrsa` writes it), EC keys as SEC1 `ECPrivateKey` DER with the named curve, keys
//!   without a traditional form (Ed25519, X25519, Ed448, X448) as the PKCS#8 DER itself.
//! - `--encryption-key-env VAR`: the bytes that VAR holds in base64, hashed as they are (no PEM
//!   or DER parsing).

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use pkcs8::der::asn1::ObjectIdentifier;
use pkcs8::der::{Decode as _, Encode as _};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

/// The `--encrypt` algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128 in CTR mode.
    Aes128,
    /// AES-256 in CTR mode.
    Aes256,
}

impl Cipher {
    /// asbackup's name for it (`aes128`, `aes256`).
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes128 => "aes128",
            Cipher::Aes256 => "aes256",
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 => 16,
            Cipher::Aes256 => 32,
        }
    }
}

/// An AES key and where it came from (for messages). The key bytes are wiped on drop and never
/// printed.
#[derive(Clone)]
pub struct EncryptionKey {
    cipher: Cipher,
    /// SHA-256 of the key material; the first [`Cipher::key_len`] bytes are the AES key.
    digest: Zeroizing<[u8; 32]>,
    origin: String,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("cipher", &self.cipher)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The key could not be read or is not a usable private key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file cannot be read.
    #[error("cannot read --encryption-key-file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is not a PEM private key this restorer can use.
    #[error("--encryption-key-file {path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The environment variable is not set.
    #[error("--encryption-key-env {var}: the environment variable is not set")]
    EnvMissing {
        /// The variable.
        var: String,
    },
    /// The environment variable is not (one line of) base64.
    #[error("--encryption-key-env {var}: the variable is not valid base64 (one line, padded)")]
    EnvBase64 {
        /// The variable.
        var: String,
    },
}

/// OIDs of the key algorithms handled specially.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// Keys that OpenSSL encodes as PKCS#8 even in `i2d_PrivateKey` (no traditional format).
const PKCS8_ONLY: [ObjectIdentifier; 4] = [
    ObjectIdentifier::new_unwrap("1.3.101.110"), // X25519
    ObjectIdentifier::new_unwrap("1.3.101.111"), // X448
    ObjectIdentifier::new_unwrap("1.3.101.112"), // Ed25519
    ObjectIdentifier::new_unwrap("1.3.101.113"), // Ed448
];

impl EncryptionKey {
    /// The key of `--encryption-key-file PATH`.
    pub fn from_key_file(cipher: Cipher, path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?);
        let material = key_material_from_pem(&text).map_err(|message| KeyError::Pem {
            path: shown.clone(),
            message,
        })?;
        Ok(Self::from_material(
            cipher,
            &material,
            format!("--encryption-key-file {shown}"),
        ))
    }

    /// The key of `--encryption-key-env VAR`.
    pub fn from_env(cipher: Cipher, var: &str) -> Result<Self, KeyError> {
        let value =
            std::env::var_os(var).ok_or_else(|| KeyError::EnvMissing { var: var.into() })?;
        Self::from_base64(cipher, var, &Zeroizing::new(value.into_encoded_bytes()))
    }

    /// The key for `value`, the base64 text of the variable `var`.
    fn from_base64(cipher: Cipher, var: &str, value: &[u8]) -> Result<Self, KeyError> {
        let material = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| KeyError::EnvBase64 { var: var.into() })?,
        );
        Ok(Self::from_material(
            cipher,
            &material,
            format!("--encryption-key-env {var}"),
        ))
    }

    /// The key for raw key material (what asbackup hashes); `origin` names it in messages.
    pub fn from_material(cipher: Cipher, material: &[u8], origin: impl Into<String>) -> Self {
        let mut digest = Zeroizing::new([0u8; 32]);
        let mut hash = Sha256::digest(material);
        digest.copy_from_slice(&hash);
        hash.as_mut_slice().zeroize();
        EncryptionKey {
            cipher,
            digest,
            origin: origin.into(),
        }
    }

    /// The algorithm.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Where the key came from, as the flag that gave it (`--encryption-key-file key.pem`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The AES key bytes (16 or 32).
    pub(super) fn aes_key(&self) -> &[u8] {
        &self.digest[..self.cipher.key_len()]
    }
}

/// The DER that OpenSSL's `i2d_PrivateKey` gives for the first private key in a PEM file.
fn key_material_from_pem(text: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let blocks = pem::parse_many(text).map_err(|e| format!("not a valid PEM file: {e}"))?;
    let Some(block) = blocks.iter().find(|b| b.tag().ends_with("PRIVATE KEY")) else {
        return Err(if blocks.is_empty() {
            "no PEM block found (expected -----BEGIN PRIVATE KEY-----)".into()
        } else {
            "no PEM private key found (expected -----BEGIN PRIVATE KEY----- or \
             -----BEGIN RSA PRIVATE KEY-----)"
                .into()
        });
    };
    let encrypted = block.tag() == "ENCRYPTED PRIVATE KEY"
        || block
            .headers()
            .get("Proc-Type")
            .is_some_and(|v| v.contains("ENCRYPTED"));
    if encrypted {
        return Err(
            "the private key is protected by a passphrase, which is not supported: \
                    write it without one (openssl pkey -in KEY -out PLAIN.pem)"
                .into(),
        );
    }
    let der = Zeroizing::new(block.contents().to_vec());
    if block.tag() != "PRIVATE KEY" {
        // A traditional key ("RSA PRIVATE KEY", "EC PRIVATE KEY", ...): already the DER that
        // OpenSSL re-encodes it to.
        return Ok(der);
    }
    pkcs8_to_traditional(&der)
}

/// A PKCS#8 `PrivateKeyInfo` as `i2d_PrivateKey` encodes that key.
fn pkcs8_to_traditional(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|e| format!("not a PKCS#8 private key: {e}"))?;
    let oid = info.algorithm.oid;
    let inner = info.private_key.as_bytes();
    if oid == RSA_ENCRYPTION {
        return Ok(Zeroizing::new(inner.to_vec()));
    }
    if PKCS8_ONLY.contains(&oid) {
        return Ok(Zeroizing::new(der.to_vec()));
    }
    if oid != EC_PUBLIC_KEY {
        return Err(format!(
            "unsupported key algorithm {oid}: use an RSA, EC, Ed25519 or X25519 key"
        ));
    }
    // SEC1 inside PKCS#8 usually leaves out the curve, which sits in the algorithm's
    // parameters; OpenSSL writes it back, along with the public key.
    let mut ec =
        sec1::EcPrivateKey::from_der(inner).map_err(|e| format!("invalid EC private key: {e}"))?;
    if ec.parameters.is_none() {
        let curve = info
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or("the EC key does not name its curve")?;
        ec.parameters = Some(sec1::EcParameters::NamedCurve(curve));
    }
    if ec.public_key.is_none() {
        return Err("the EC key has no public key; write it with it \
                    (openssl ec -in KEY -out FULL.pem)"
            .into());
    }
    ec.to_der()
        .map(Zeroizing::new)
        .map_err(|e| format!("cannot re-encode the EC key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_material_is_hashed_as_given() {
        let k = EncryptionKey::from_base64(Cipher::Aes128, "K", b"aGVsbG8=").unwrap();
        // SHA-256("hello")
        assert_eq!(
            k.aes_key(),
            &[
                0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a, 0xc5, 0xb9,
                0xe2, 0x9e
            ]
        );
        assert_eq!(k.origin(), "--encryption-key-env K");
        // asbackup takes one unbroken line of padded base64 only.
        for bad in [&b"aGVsbG8=\n"[..], b"aGVsbG8", b"not base64!"] {
            assert!(matches!(
                EncryptionKey::from_base64(Cipher::Aes128, "K", bad),
                Err(KeyError::EnvBase64 { .. })
            ));
        }
        assert!(matches!(
            EncryptionKey::from_env(Cipher::Aes256, "RESTORER_TEST_VARIABLE_THAT_IS_NEVER_SET"),
            Err(KeyError::EnvMissing { .. })
        ));
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let k = EncryptionKey::from_material(Cipher::Aes256, b"x", "test");
        let shown = format!("{k:?}");
        assert!(!shown.contains("digest"), "{shown}");
        assert_eq!(k.aes_key().len(), 32);
    }

    #[test]
    fn pem_errors_say_what_is_wrong() {
        let err = key_material_from_pem(b"hello").unwrap_err();
        assert!(err.contains("no PEM block"), "{err}");
        let cert = pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2, 3]));
        let err = key_material_from_pem(cert.as_bytes()).unwrap_err();
        assert!(err.contains("no PEM private key"), "{err}");
        let enc = pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", vec![1, 2, 3]));
        let err = key_material_from_pem(enc.as_bytes()).unwrap_err();
        assert!(err.contains("passphrase"), "{err}");
        let bad = pem::encode(&pem::Pem::new("PRIVATE KEY", vec![1, 2, 3]));
        let err = key_material_from_pem(bad.as_bytes()).unwrap_err();
        assert!(err.contains("PKCS#8"), "{err}");
        // A traditional key is taken as it is.
        let rsa = pem::encode(&pem::Pem::new("RSA PRIVATE KEY", vec![0x30, 0x00]));
        assert_eq!(
            &*key_material_from_pem(rsa.as_bytes()).unwrap(),
            &[0x30, 0x00]
        );
    }
}
