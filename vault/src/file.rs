//! Streaming file encryption: the STREAM construction (Hoang, Reyhanitabar,
//! Rogaway and Vizár) over XChaCha20-Poly1305, in chunks of 64 KiB, under a
//! per-file data key. A file never sits in memory whole, and no plaintext
//! touches the disk. Chunks cannot be reordered, dropped or truncated
//! unnoticed (each carries its position and the last is marked as last).
//!
//! The data key is not in the file: its owner keeps it wrapped (in the
//! database), so destroying that wrapped key destroys the file even where its
//! disk blocks survive.
//!
//! File layout: `SLCF` | format (1) | 19-byte stream nonce | chunks, each the
//! ciphertext of up to 64 KiB and a 16-byte tag.

use crate::{Aad, Keyring, VaultError};
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::aead::{AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use zeroize::{Zeroize, Zeroizing};

const MAGIC: &[u8; 4] = b"SLCF";
const FORMAT: u8 = 1;
const NONCE: usize = 19;
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("file I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A per-file data key.
pub struct FileKey {
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

impl FileKey {
    pub fn generate() -> Self {
        Self {
            key: Zeroizing::new(XChaCha20Poly1305::generate_key(&mut OsRng).to_vec()),
        }
    }

    /// The key wrapped by the primary KEK for `owner`: `(kek version, wrapped)`.
    pub fn wrap(&self, keyring: &Keyring, owner: &Aad) -> (u32, Vec<u8>) {
        keyring.wrap(&self.key, owner)
    }

    pub fn unwrap(
        keyring: &Keyring,
        owner: &Aad,
        kek_version: u32,
        wrapped: &[u8],
    ) -> Result<Self, VaultError> {
        Ok(Self {
            key: keyring.unwrap(kek_version, wrapped, owner)?,
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.as_slice().into())
    }

    /// A writer that encrypts what is written to it into `output`; call
    /// [`EncryptWriter::finish`] at the end, or the file is incomplete (and
    /// will not decrypt).
    pub fn writer<W: Write>(
        &self,
        owner: &Aad,
        mut output: W,
    ) -> Result<EncryptWriter<W>, FileError> {
        let full = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut nonce = [0u8; NONCE];
        nonce.copy_from_slice(&full[..NONCE]);
        output.write_all(MAGIC)?;
        output.write_all(&[FORMAT])?;
        output.write_all(&nonce)?;
        Ok(EncryptWriter {
            stream: EncryptorBE32::from_aead(self.cipher(), (&nonce).into()),
            output,
            pending: Zeroizing::new(Vec::with_capacity(2 * CHUNK)),
            aad: owner.bytes("file"),
            total: 0,
        })
    }

    /// Encrypts everything `input` yields into `output`; returns the plaintext size.
    pub fn encrypt(
        &self,
        owner: &Aad,
        mut input: impl Read,
        output: impl Write,
    ) -> Result<u64, FileError> {
        let mut writer = self.writer(owner, output)?;
        std::io::copy(&mut input, &mut writer)?;
        Ok(writer.finish()?.1)
    }

    /// Decrypts a file made by [`FileKey::encrypt`] for the same owner; a
    /// wrong key, owner, or any altered, reordered or truncated chunk fails.
    /// Plaintext already written before a failure must be discarded.
    pub fn decrypt(
        &self,
        owner: &Aad,
        input: impl Read,
        mut output: impl Write,
    ) -> Result<u64, FileError> {
        let mut reader = BufReader::with_capacity(CHUNK + TAG, input);
        let mut header = [0u8; 4 + 1 + NONCE];
        if read_full(&mut reader, &mut header)? != header.len()
            || &header[..4] != MAGIC
            || header[4] != FORMAT
        {
            return Err(VaultError::Malformed.into());
        }
        let nonce: [u8; NONCE] = header[5..].try_into().map_err(|_| VaultError::Malformed)?;
        let aad = owner.bytes("file");
        let mut stream = DecryptorBE32::from_aead(self.cipher(), (&nonce).into());
        let mut chunk = vec![0u8; CHUNK + TAG];
        let mut total = 0u64;
        loop {
            let n = read_full(&mut reader, &mut chunk)?;
            let last = n < CHUNK + TAG || reader.fill_buf()?.is_empty();
            if n < TAG {
                return Err(VaultError::Malformed.into());
            }
            let payload = Payload {
                msg: &chunk[..n],
                aad: &aad,
            };
            if last {
                let plain = Zeroizing::new(
                    stream
                        .decrypt_last(payload)
                        .map_err(|_| VaultError::Decrypt)?,
                );
                output.write_all(&plain)?;
                output.flush()?;
                return Ok(total + plain.len() as u64);
            }
            let plain = Zeroizing::new(
                stream
                    .decrypt_next(payload)
                    .map_err(|_| VaultError::Decrypt)?,
            );
            output.write_all(&plain)?;
            total += plain.len() as u64;
        }
    }
}

impl FileKey {
    /// A reader of the plaintext of a file made by [`FileKey::writer`] for
    /// the same owner, which can also seek: each chunk is decrypted on its
    /// own, by its position, so a spreadsheet reader can jump about a large
    /// file while only one chunk is in memory. A wrong key or owner, or an
    /// altered, reordered or truncated file, fails as an I/O error of kind
    /// `InvalidData`.
    pub fn reader<R: Read + Seek>(
        &self,
        owner: &Aad,
        mut input: R,
    ) -> Result<DecryptReader<R>, FileError> {
        let mut header = [0u8; HEADER];
        input.seek(SeekFrom::Start(0))?;
        if read_full(&mut input, &mut header)? != header.len()
            || &header[..4] != MAGIC
            || header[4] != FORMAT
        {
            return Err(VaultError::Malformed.into());
        }
        let body = input.seek(SeekFrom::End(0))? - HEADER as u64;
        let sealed = (CHUNK + TAG) as u64;
        let chunks = body.div_ceil(sealed).max(1);
        let last = body - (chunks - 1) * sealed;
        if last < TAG as u64 || chunks > u64::from(u32::MAX) {
            return Err(VaultError::Malformed.into());
        }
        let mut prefix = [0u8; NONCE];
        prefix.copy_from_slice(&header[5..]);
        Ok(DecryptReader {
            cipher: self.cipher(),
            aad: owner.bytes("file"),
            prefix,
            input,
            len: (chunks - 1) * CHUNK as u64 + last - TAG as u64,
            chunks,
            pos: 0,
            current: None,
            plain: Zeroizing::new(Vec::with_capacity(CHUNK)),
            sealed: vec![0u8; CHUNK + TAG],
        })
    }
}

const HEADER: usize = 4 + 1 + NONCE;

/// Reads (and seeks in) an encrypted file's plaintext; see [`FileKey::reader`].
pub struct DecryptReader<R> {
    cipher: XChaCha20Poly1305,
    aad: Vec<u8>,
    prefix: [u8; NONCE],
    input: R,
    len: u64,
    chunks: u64,
    pos: u64,
    /// The chunk held in `plain`.
    current: Option<u64>,
    plain: Zeroizing<Vec<u8>>,
    sealed: Vec<u8>,
}

impl<R: Read + Seek> DecryptReader<R> {
    /// The plaintext's size.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decrypts chunk `index` into `plain`, with the nonce STREAM gives it:
    /// the prefix, the big-endian position, and whether it is the last.
    fn load(&mut self, index: u64) -> std::io::Result<()> {
        if self.current == Some(index) {
            return Ok(());
        }
        self.current = None;
        let sealed = (CHUNK + TAG) as u64;
        self.input
            .seek(SeekFrom::Start(HEADER as u64 + index * sealed))?;
        let n = read_full(&mut self.input, &mut self.sealed)?;
        let last = index + 1 == self.chunks;
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, VaultError::Decrypt);
        if n < TAG || (!last && n != CHUNK + TAG) {
            return Err(invalid());
        }
        let mut nonce = [0u8; 24];
        nonce[..NONCE].copy_from_slice(&self.prefix);
        let position = u32::try_from(index).map_err(|_| invalid())?;
        nonce[NONCE..NONCE + 4].copy_from_slice(&position.to_be_bytes());
        nonce[NONCE + 4] = u8::from(last);
        let plain = self
            .cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: &self.sealed[..n],
                    aad: &self.aad,
                },
            )
            .map_err(|_| invalid())?;
        self.plain.zeroize();
        self.plain.extend_from_slice(&plain);
        drop(Zeroizing::new(plain));
        self.current = Some(index);
        Ok(())
    }
}

impl<R: Read + Seek> Read for DecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let index = self.pos / CHUNK as u64;
        self.load(index)?;
        let offset = (self.pos % CHUNK as u64) as usize;
        let n = (self.plain.len() - offset).min(buf.len());
        buf[..n].copy_from_slice(&self.plain[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for DecryptReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

/// Encrypts as it is written to. A chunk is sealed once more data follows it,
/// so that the final chunk, full or not, is sealed as the last.
pub struct EncryptWriter<W: Write> {
    stream: EncryptorBE32<XChaCha20Poly1305>,
    output: W,
    pending: Zeroizing<Vec<u8>>,
    aad: Vec<u8>,
    total: u64,
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let written = data.len();
        self.total += written as u64;
        let mut rest = data;
        // Top up the chunk held back; seal it only once more data follows.
        if !self.pending.is_empty() || rest.len() <= CHUNK {
            let take = (CHUNK - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if rest.is_empty() {
                return Ok(written);
            }
            seal_next(&mut self.stream, &mut self.output, &self.aad, &self.pending)?;
            self.pending.zeroize();
        }
        // Whole chunks straight from the caller's buffer, keeping the tail.
        while rest.len() > CHUNK {
            seal_next(
                &mut self.stream,
                &mut self.output,
                &self.aad,
                &rest[..CHUNK],
            )?;
            rest = &rest[CHUNK..];
        }
        self.pending.extend_from_slice(rest);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.output.flush()
    }
}

fn seal_next(
    stream: &mut EncryptorBE32<XChaCha20Poly1305>,
    output: &mut impl Write,
    aad: &[u8],
    chunk: &[u8],
) -> std::io::Result<()> {
    let sealed = stream
        .encrypt_next(Payload { msg: chunk, aad })
        .map_err(|_| std::io::Error::other("encryption failed"))?;
    output.write_all(&sealed)
}

impl<W: Write> EncryptWriter<W> {
    /// Seals the last chunk: the output and the plaintext size.
    pub fn finish(self) -> Result<(W, u64), FileError> {
        let Self {
            stream,
            mut output,
            pending,
            aad,
            total,
        } = self;
        let payload = Payload {
            msg: &pending,
            aad: &aad,
        };
        let sealed = stream
            .encrypt_last(payload)
            .map_err(|_| VaultError::Decrypt)?;
        output.write_all(&sealed)?;
        output.flush()?;
        Ok((output, total))
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(id: &str) -> Aad {
        Aad::new("acct", "uploads", id, "file")
    }

    fn roundtrip(size: usize) {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let key = FileKey::generate();
        let mut sealed = Vec::new();
        assert_eq!(
            key.encrypt(&owner("f"), &data[..], &mut sealed).unwrap(),
            size as u64
        );
        let chunks = size.div_ceil(CHUNK).max(1);
        assert_eq!(sealed.len(), 24 + size + TAG * chunks);
        let mut plain = Vec::new();
        assert_eq!(
            key.decrypt(&owner("f"), &sealed[..], &mut plain).unwrap(),
            size as u64
        );
        assert_eq!(plain, data, "size {size}");
    }

    #[test]
    fn files_of_every_size_round_trip() {
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            roundtrip(size);
        }
    }

    #[test]
    fn writing_in_any_pieces_gives_the_same_plaintext() {
        let data: Vec<u8> = (0..2 * CHUNK + 123).map(|i| (i % 13) as u8).collect();
        let key = FileKey::generate();
        for piece in [1, 1000, CHUNK, CHUNK + 1, data.len()] {
            let mut writer = key.writer(&owner("f"), Vec::new()).unwrap();
            for part in data.chunks(piece) {
                writer.write_all(part).unwrap();
            }
            let (sealed, size) = writer.finish().unwrap();
            assert_eq!(size, data.len() as u64);
            let mut plain = Vec::new();
            key.decrypt(&owner("f"), &sealed[..], &mut plain).unwrap();
            assert_eq!(plain, data, "pieces of {piece}");
        }
    }

    #[test]
    fn tampering_truncation_and_the_wrong_owner_are_caught() {
        let data = vec![7u8; 3 * CHUNK + 10];
        let key = FileKey::generate();
        let mut sealed = Vec::new();
        key.encrypt(&owner("f"), &data[..], &mut sealed).unwrap();
        let fails = |bytes: &[u8], who: &Aad| key.decrypt(who, bytes, std::io::sink()).is_err();
        assert!(fails(&sealed, &owner("other")), "another owner");
        let mut flipped = sealed.clone();
        flipped[24 + CHUNK + 5] ^= 1;
        assert!(fails(&flipped, &owner("f")), "an altered chunk");
        let chunk = CHUNK + TAG;
        assert!(
            fails(&sealed[..24 + 2 * chunk], &owner("f")),
            "cut at a chunk boundary"
        );
        let mut swapped = sealed[..24].to_vec();
        swapped.extend_from_slice(&sealed[24 + chunk..24 + 2 * chunk]);
        swapped.extend_from_slice(&sealed[24..24 + chunk]);
        swapped.extend_from_slice(&sealed[24 + 2 * chunk..]);
        assert!(fails(&swapped, &owner("f")), "reordered chunks");
        assert!(fails(b"not a file", &owner("f")));
        assert!(FileKey::generate()
            .decrypt(&owner("f"), &sealed[..], std::io::sink())
            .is_err());
    }

    #[test]
    fn the_reader_reads_and_seeks_like_the_plaintext() {
        use std::io::Cursor;
        for size in [0, 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let key = FileKey::generate();
            let mut sealed = Vec::new();
            key.encrypt(&owner("f"), &data[..], &mut sealed).unwrap();
            let mut reader = key.reader(&owner("f"), Cursor::new(&sealed)).unwrap();
            assert_eq!(reader.len(), size as u64);
            let mut plain = Vec::new();
            reader.read_to_end(&mut plain).unwrap();
            assert_eq!(plain, data, "size {size}");
            for at in [size / 2, size.saturating_sub(3), 0, CHUNK.min(size)] {
                reader.seek(SeekFrom::Start(at as u64)).unwrap();
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest).unwrap();
                assert_eq!(rest, &data[at..], "size {size} from {at}");
            }
        }
    }

    #[test]
    fn the_reader_catches_tampering_and_truncation() {
        use std::io::Cursor;
        let data = vec![9u8; 3 * CHUNK + 10];
        let key = FileKey::generate();
        let mut sealed = Vec::new();
        key.encrypt(&owner("f"), &data[..], &mut sealed).unwrap();
        let read_all = |bytes: &[u8], who: &Aad| -> std::io::Result<Vec<u8>> {
            let mut reader = key
                .reader(who, Cursor::new(bytes.to_vec()))
                .map_err(std::io::Error::other)?;
            let mut out = Vec::new();
            reader.read_to_end(&mut out)?;
            Ok(out)
        };
        assert!(read_all(&sealed, &owner("f")).is_ok());
        assert!(read_all(&sealed, &owner("other")).is_err(), "another owner");
        let mut flipped = sealed.clone();
        flipped[24 + 2 * CHUNK + 100] ^= 1;
        assert!(read_all(&flipped, &owner("f")).is_err(), "an altered chunk");
        let chunk = CHUNK + TAG;
        assert!(
            read_all(&sealed[..24 + 2 * chunk], &owner("f")).is_err(),
            "cut at a chunk boundary"
        );
        assert!(
            read_all(&sealed[..sealed.len() - 1], &owner("f")).is_err(),
            "cut short"
        );
    }

    #[test]
    fn the_key_is_kept_wrapped_apart_from_the_file() {
        let keyring = Keyring::generate();
        let key = FileKey::generate();
        let (version, wrapped) = key.wrap(&keyring, &owner("f"));
        let again = FileKey::unwrap(&keyring, &owner("f"), version, &wrapped).unwrap();
        let mut sealed = Vec::new();
        key.encrypt(&owner("f"), &b"marker-plaintext"[..], &mut sealed)
            .unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"marker"));
        let mut plain = Vec::new();
        again.decrypt(&owner("f"), &sealed[..], &mut plain).unwrap();
        assert_eq!(plain, b"marker-plaintext");
        assert!(FileKey::unwrap(&keyring, &owner("g"), version, &wrapped).is_err());
    }
}
