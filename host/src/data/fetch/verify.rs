//! Checking a file against its pin (see [`super::catalog`]) in one streaming pass.
//!
//! The same pass hashes the file's raw bytes, which go into the data root's
//! `SHA256SUMS` so that later loads check exactly the bytes that were verified here.
use super::catalog::{Check, FileSpec};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Why a file does not match its pin. The messages give expected and actual values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("it is not a valid gzip file ({0})")]
    Gzip(String),
    #[error("it has {0} bytes after the end of its gzip data")]
    Trailing(u64),
    #[error(
        "{what} is longer than {limit} bytes (pinned: {expected_size} bytes), reading stopped"
    )]
    TooLong {
        what: &'static str,
        expected_size: u64,
        limit: u64,
    },
    #[error(
        "{what} should be {expected_size} bytes with sha256 {expected_sha256}, \
         it is {actual_size} bytes with sha256 {actual_sha256}"
    )]
    Mismatch {
        what: &'static str,
        expected_size: u64,
        expected_sha256: String,
        actual_size: u64,
        actual_sha256: String,
    },
}

/// A file that matches its pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Size of the file as stored.
    pub raw_size: u64,
    /// sha256 of the file as stored (what `SHA256SUMS` lists).
    pub raw_sha256: String,
}

/// The outcome of [`verify_file`] when it could read the file.
pub type Verdict = Result<Verified, Invalid>;

/// Checks the file at `path` against `spec`. The outer error is a local read failure;
/// the inner result says whether the bytes match.
pub fn verify_file(path: &Path, spec: &FileSpec) -> std::io::Result<Verdict> {
    let file = std::fs::File::open(path)?;
    verify_reader(file, spec)
}

/// [`verify_file`] on any reader.
pub fn verify_reader(input: impl Read, spec: &FileSpec) -> std::io::Result<Verdict> {
    let mut raw = HashingReader::new(input);
    match spec.check {
        Check::Raw => {
            // Read at most one byte past the pin: enough to know the size is wrong.
            let limit = spec.size.saturating_add(1);
            let n = std::io::copy(&mut (&mut raw).take(limit), &mut std::io::sink())?;
            if n > spec.size {
                // Finish the count and the digest for the message; raw files are small
                // and downloads of them are capped at the pinned size anyway.
                std::io::copy(&mut raw, &mut std::io::sink())?;
            }
            let (size, sha) = raw.finish();
            Ok(
                compare("the file", spec, size, sha.clone()).map(|()| Verified {
                    raw_size: size,
                    raw_sha256: sha,
                }),
            )
        }
        Check::Gunzipped => verify_gzip(raw, spec),
    }
}

/// Gunzips one member while hashing both the compressed and the decompressed bytes.
fn verify_gzip<R: Read>(raw: HashingReader<R>, spec: &FileSpec) -> std::io::Result<Verdict> {
    const WHAT: &str = "the gunzipped content";
    let mut decoder = flate2::bufread::GzDecoder::new(BufReader::with_capacity(64 * 1024, raw));
    // A content far larger than pinned is not the file; stop before a gzip bomb ends.
    let limit = spec.size.saturating_mul(16).saturating_add(1 << 20);
    let mut content = HashingReader::new((&mut decoder).take(limit));
    if let Err(e) = std::io::copy(&mut content, &mut std::io::sink()) {
        // flate2 reports bad gzip data as InvalidInput/InvalidData/UnexpectedEof; a
        // failing disk surfaces as other kinds and is a local error.
        return match e.kind() {
            std::io::ErrorKind::InvalidInput
            | std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::UnexpectedEof => Ok(Err(Invalid::Gzip(e.to_string()))),
            _ => Err(e),
        };
    }
    let (size, sha) = content.finish();
    if size >= limit {
        return Ok(Err(Invalid::TooLong {
            what: WHAT,
            expected_size: spec.size,
            limit,
        }));
    }
    if let Err(bad) = compare(WHAT, spec, size, sha) {
        return Ok(Err(bad));
    }
    // Anything after the member would be ignored by the loaders; refuse it instead.
    let mut rest = decoder.into_inner();
    let mut trailing = 0u64;
    loop {
        let n = rest.fill_buf()?.len();
        if n == 0 {
            break;
        }
        trailing += n as u64;
        rest.consume(n);
    }
    if trailing > 0 {
        return Ok(Err(Invalid::Trailing(trailing)));
    }
    let (raw_size, raw_sha256) = rest.into_inner().finish();
    Ok(Ok(Verified {
        raw_size,
        raw_sha256,
    }))
}

fn compare(what: &'static str, spec: &FileSpec, size: u64, sha: String) -> Result<(), Invalid> {
    if size == spec.size && sha == spec.sha256 {
        Ok(())
    } else {
        Err(Invalid::Mismatch {
            what,
            expected_size: spec.size,
            expected_sha256: spec.sha256.clone(),
            actual_size: size,
            actual_sha256: sha,
        })
    }
}

/// A reader that counts and hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes read and their lower-case hex sha256.
    fn finish(self) -> (u64, String) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (self.len, hex)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sha256_hex;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn spec(check: Check, content: &[u8]) -> FileSpec {
        FileSpec::new("x/f", check, content.len() as u64, &sha256_hex(content))
    }

    #[test]
    fn gzip_content_is_what_is_pinned() {
        let content = b"hello idx".repeat(100);
        let file = gz(&content);
        let v = verify_reader(&file[..], &spec(Check::Gunzipped, &content))
            .unwrap()
            .unwrap();
        assert_eq!(v.raw_sha256, sha256_hex(&file));
        assert_eq!(v.raw_size, file.len() as u64);
    }

    #[test]
    fn bad_gzip_and_trailing_bytes_are_refused() {
        let content = b"abc".repeat(50);
        let s = spec(Check::Gunzipped, &content);
        let file = gz(&content);
        let bad = verify_reader(&file[..file.len() - 5], &s).unwrap();
        assert!(matches!(bad, Err(Invalid::Gzip(_))), "{bad:?}");
        let mut more = file.clone();
        more.extend_from_slice(b"junk");
        assert_eq!(
            verify_reader(&more[..], &s).unwrap(),
            Err(Invalid::Trailing(4))
        );
        let other = gz(b"something else");
        let err = verify_reader(&other[..], &s).unwrap().unwrap_err();
        assert!(err.to_string().contains(&s.sha256), "{err}");
        assert!(
            err.to_string().contains(&sha256_hex(b"something else")),
            "{err}"
        );
    }

    #[test]
    fn raw_files_are_checked_as_stored() {
        let s = spec(Check::Raw, b"desc");
        assert!(verify_reader(&b"desc"[..], &s).unwrap().is_ok());
        let err = verify_reader(&b"desc and more"[..], &s)
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Invalid::Mismatch {
                    actual_size: 13,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
