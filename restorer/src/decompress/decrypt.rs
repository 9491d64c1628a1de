//! Decryption of `asbackup --encrypt` files, chunk by chunk: the file starts with the IV
//! encrypted as one AES block (16 bytes), then the data in AES-CTR with a 128-bit big-endian
//! counter that starts at IV + 1. CTR keeps lengths, so plaintext byte `n` is file byte `n + 16`.
//!
//! CTR carries no authentication: a wrong key or a changed byte gives other bytes, never an
//! error here. What follows (format detection, zstd, the `.asb` parser) catches it.

use aes::cipher::{BlockCipherDecrypt as _, KeyInit as _, KeyIvInit as _, StreamCipher as _};
use aes::{Aes128, Aes256};
use bytes::{Bytes, BytesMut};

use super::key::{Cipher, EncryptionKey};

/// Length of the encrypted IV at the start of the file.
pub const HEADER_LEN: usize = 16;

type Ctr<C> = ctr::Ctr128BE<C>;

/// The keystream, once the IV is known.
enum Stream {
    Aes128(Box<Ctr<Aes128>>),
    Aes256(Box<Ctr<Aes256>>),
}

/// Decrypts an encrypted file given in chunks of any size.
pub struct Decryptor {
    key: std::sync::Arc<EncryptionKey>,
    /// The encrypted IV as received so far.
    header: [u8; HEADER_LEN],
    have: usize,
    stream: Option<Stream>,
}

impl Decryptor {
    /// A decryptor at the start of a file.
    pub fn new(key: std::sync::Arc<EncryptionKey>) -> Self {
        Decryptor {
            key,
            header: [0; HEADER_LEN],
            have: 0,
            stream: None,
        }
    }

    /// Whether the whole IV header was read.
    pub fn header_complete(&self) -> bool {
        self.stream.is_some()
    }

    /// The key in use.
    pub fn key(&self) -> &EncryptionKey {
        &self.key
    }

    /// Decrypts the next chunk of the file; the result is empty while the IV is read.
    pub fn decrypt(&mut self, chunk: Bytes) -> Bytes {
        let mut chunk = chunk;
        if self.stream.is_none() {
            let take = (HEADER_LEN - self.have).min(chunk.len());
            self.header[self.have..self.have + take].copy_from_slice(&chunk[..take]);
            self.have += take;
            let _ = chunk.split_to(take);
            if self.have < HEADER_LEN {
                return Bytes::new();
            }
            self.stream = Some(self.start());
        }
        if chunk.is_empty() {
            return chunk;
        }
        // In place when nobody else holds the chunk, otherwise into a copy.
        let mut buf = chunk
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        match &mut self.stream {
            Some(Stream::Aes128(c)) => c.apply_keystream(&mut buf),
            Some(Stream::Aes256(c)) => c.apply_keystream(&mut buf),
            None => unreachable!("the stream starts once the header is complete"),
        }
        buf.freeze()
    }

    /// Decrypts the IV and sets up the keystream at IV + 1.
    fn start(&self) -> Stream {
        let key = self.key.aes_key();
        let mut iv = aes::Block::from(self.header);
        let counter = |iv: &aes::Block| {
            let next = u128::from_be_bytes(<[u8; 16]>::from(*iv)).wrapping_add(1);
            aes::Block::from(next.to_be_bytes())
        };
        match self.key.cipher() {
            Cipher::Aes128 => {
                let k = aes::cipher::Key::<Aes128>::try_from(key).expect("16-byte key");
                Aes128::new(&k).decrypt_block(&mut iv);
                Stream::Aes128(Box::new(Ctr::<Aes128>::new(&k, &counter(&iv))))
            }
            Cipher::Aes256 => {
                let k = aes::cipher::Key::<Aes256>::try_from(key).expect("32-byte key");
                Aes256::new(&k).decrypt_block(&mut iv);
                Stream::Aes256(Box::new(Ctr::<Aes256>::new(&k, &counter(&iv))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockCipherEncrypt as _;
    use std::sync::Arc;

    /// Encrypts as asbackup does: E(IV), then CTR from IV + 1.
    fn encrypt(key: &EncryptionKey, iv: [u8; 16], data: &[u8]) -> Vec<u8> {
        let k = key.aes_key();
        let mut block = aes::Block::from(iv);
        let next = aes::Block::from(u128::from_be_bytes(iv).wrapping_add(1).to_be_bytes());
        let mut body = data.to_vec();
        match key.cipher() {
            Cipher::Aes128 => {
                let k = aes::cipher::Key::<Aes128>::try_from(k).unwrap();
                Aes128::new(&k).encrypt_block(&mut block);
                Ctr::<Aes128>::new(&k, &next).apply_keystream(&mut body);
            }
            Cipher::Aes256 => {
                let k = aes::cipher::Key::<Aes256>::try_from(k).unwrap();
                Aes256::new(&k).encrypt_block(&mut block);
                Ctr::<Aes256>::new(&k, &next).apply_keystream(&mut body);
            }
        }
        [<[u8; 16]>::from(block).to_vec(), body].concat()
    }

    fn decrypt_in(key: Arc<EncryptionKey>, file: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut d = Decryptor::new(key);
        let mut out = Vec::new();
        let mut rest = Bytes::copy_from_slice(file);
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            i += 1;
            out.extend_from_slice(&d.decrypt(rest.split_to(n)));
        }
        assert_eq!(d.header_complete(), file.len() >= HEADER_LEN);
        out
    }

    #[test]
    fn any_chunking_decrypts_the_same() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for cipher in [Cipher::Aes128, Cipher::Aes256] {
            let key = Arc::new(EncryptionKey::from_material(cipher, b"material", "test"));
            // A counter that wraps around 2^128 in the middle of the data, as OpenSSL's does.
            for iv in [[7u8; 16], [0xff; 16]] {
                let file = encrypt(&key, iv, &data);
                for sizes in [&[1][..], &[3, 16, 17], &[15, 1, 4096], &[100_000]] {
                    assert_eq!(decrypt_in(key.clone(), &file, sizes), data, "{sizes:?}");
                }
            }
        }
    }

    #[test]
    fn a_short_file_is_only_header() {
        let key = Arc::new(EncryptionKey::from_material(Cipher::Aes256, b"k", "test"));
        assert!(decrypt_in(key, &[1, 2, 3], &[2]).is_empty());
    }

    #[test]
    fn shared_chunks_are_copied_not_changed() {
        let key = Arc::new(EncryptionKey::from_material(Cipher::Aes128, b"k", "test"));
        let encrypted = encrypt(&key, [1; 16], b"hello world");
        let file = Bytes::from(encrypted.clone());
        let keep = file.clone();
        let mut d = Decryptor::new(key);
        assert_eq!(&d.decrypt(file)[..], b"hello world");
        assert_eq!(
            &keep[..],
            &encrypted[..],
            "the caller's bytes are untouched"
        );
    }
}
