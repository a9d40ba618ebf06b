//! Downloading one file into its `.part` file, resuming after cuts.
//!
//! The `.part` file grows across attempts and across runs: a cut (the connection closes
//! or stalls before `Content-Length` bytes arrived) is followed by a request with
//! `Range: bytes=N-`, whose `206` answer is appended. A server that ignores the range
//! (`200`) restarts the file. Nothing here decides whether the bytes are right; the
//! caller verifies the `.part` file before giving it its final name.
use super::catalog::FileSpec;
use super::{FetchError, Options, Progress};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

/// An HTTP(S) client with bounded connect and per-read timeouts.
pub(super) fn agent(opts: &Options) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(opts.connect_timeout)
        .timeout_read(opts.read_timeout)
        .timeout_write(opts.read_timeout)
        .user_agent(concat!("deepiot/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What one [`download`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Transfer {
    /// Bytes received in this run.
    pub received: u64,
    /// Whether bytes were appended to an existing `.part` (after a cut, or from a
    /// previous run): then a mismatch may come from mixing two versions of the file.
    pub resumed: bool,
}

/// How a failed attempt is handled.
enum Failure {
    /// Worth another attempt from where the `.part` file ends.
    Transient(String),
    /// Final.
    Fatal(FetchError),
}

/// Downloads `url` into `part`, appending to what `part` already holds. Returns when
/// the server has sent the whole file (or says via `416` that `part` already has it).
pub(super) fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    spec: &FileSpec,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Transfer, FetchError> {
    let mut transfer = Transfer::default();
    let mut failures = 0u32;
    loop {
        match attempt(agent, url, part, spec, progress, &mut transfer) {
            Ok(()) => return Ok(transfer),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(detail)) => {
                failures += 1;
                let have = part_len(part)?;
                if failures > opts.retries {
                    return Err(if transfer.received == 0 {
                        FetchError::Unreachable {
                            url: url.to_string(),
                            detail: format!("{detail} (tried {failures} times)"),
                        }
                    } else {
                        FetchError::ConnectionLost {
                            url: url.to_string(),
                            part: part.to_path_buf(),
                            received: have,
                            attempts: failures,
                            detail,
                        }
                    });
                }
                progress.note(&format!(
                    "{}: {detail}; resuming at {have} bytes (retry {failures} of {})",
                    spec.path, opts.retries
                ));
                std::thread::sleep(opts.retry_delay);
            }
        }
    }
}

/// Size of the `.part` file, 0 when there is none.
fn part_len(part: &Path) -> Result<u64, FetchError> {
    match std::fs::metadata(part) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(FetchError::local(part, format!("cannot read: {e}"))),
    }
}

/// One request: asks for the rest of the file and appends what arrives.
fn attempt(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    spec: &FileSpec,
    progress: &dyn Progress,
    transfer: &mut Transfer,
) -> Result<(), Failure> {
    let fatal = Failure::Fatal;
    let mut have = part_len(part).map_err(fatal)?;
    if have > spec.max_download() {
        have = 0;
    }
    let mut request = agent.get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(r) => r,
        // The `.part` file already holds the whole file, or more than the server's
        // version of it: verification decides, and a failure restarts from scratch.
        Err(ureq::Error::Status(416, _)) if have > 0 => {
            transfer.resumed = true;
            return Ok(());
        }
        Err(ureq::Error::Status(status, r)) => {
            return Err(fatal(FetchError::Http {
                url: url.to_string(),
                path: spec.path.clone(),
                status: status.to_string(),
                reason: r.status_text().to_string(),
            }))
        }
        Err(ureq::Error::Transport(t)) => return Err(transport_failure(url, spec, &t, transfer)),
    };
    let start = match response.status() {
        206 => match content_range_start(response.header("Content-Range")) {
            Some(s) if s == have => have,
            // Not the range asked for: start over rather than guess.
            _ => {
                truncate(part).map_err(fatal)?;
                return Err(Failure::Transient(
                    "the server answered a different range than asked".into(),
                ));
            }
        },
        200 => 0,
        status => {
            return Err(fatal(FetchError::Http {
                url: url.to_string(),
                path: spec.path.clone(),
                status: status.to_string(),
                reason: format!("{} (expected 200 or 206)", response.status_text()),
            }))
        }
    };
    let total = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .and_then(|n| n.checked_add(start));
    if let Some(t) = total.filter(|&t| t > spec.max_download()) {
        return Err(fatal(too_large(url, spec, t)));
    }
    let mut file = open_part(part, start).map_err(fatal)?;
    if start > 0 {
        transfer.resumed = true;
    }
    progress.start(&spec.path, start, total);
    let result = copy_body(
        response.into_reader(),
        &mut file,
        part,
        url,
        spec,
        start,
        progress,
        transfer,
    );
    progress.finish();
    // Keep what arrived even after a cut: it is where the next attempt resumes.
    file.sync_all()
        .map_err(|e| fatal(FetchError::local(part, format!("cannot write: {e}"))))?;
    let written = result?;
    if let Some(t) = total.filter(|&t| start + written < t) {
        return Err(Failure::Transient(format!(
            "the connection closed after {} of {t} bytes",
            start + written
        )));
    }
    Ok(())
}

/// Appends the body to `file`; returns the bytes written. A read error is a cut.
#[allow(clippy::too_many_arguments)]
fn copy_body(
    mut body: impl Read,
    file: &mut File,
    part: &Path,
    url: &str,
    spec: &FileSpec,
    start: u64,
    progress: &dyn Progress,
    transfer: &mut Transfer,
) -> Result<u64, Failure> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(written),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Failure::Transient(format!(
                    "the connection was cut after {} bytes ({e})",
                    start + written
                )))
            }
        };
        if start + written + n as u64 > spec.max_download() {
            return Err(Failure::Fatal(too_large(
                url,
                spec,
                start + written + n as u64,
            )));
        }
        file.write_all(&buf[..n])
            .map_err(|e| Failure::Fatal(FetchError::local(part, format!("cannot write: {e}"))))?;
        written += n as u64;
        transfer.received += n as u64;
        progress.advance(n as u64);
    }
}

/// A server sending more than the file can be is not sending the file.
fn too_large(url: &str, spec: &FileSpec, bytes: u64) -> FetchError {
    FetchError::Corrupt {
        path: spec.path.clone(),
        url: url.to_string(),
        problem: Box::new(super::verify::Invalid::TooLong {
            what: "the download",
            expected_size: spec.size,
            limit: spec.max_download().min(bytes),
        }),
    }
}

/// Classifies a failure to get an answer at all.
fn transport_failure(
    url: &str,
    spec: &FileSpec,
    t: &ureq::Transport,
    transfer: &Transfer,
) -> Failure {
    use ureq::ErrorKind as K;
    let detail = describe(t);
    match t.kind() {
        // Nothing listens there, or the name does not resolve: retrying will not help,
        // unless this server already sent part of the file in this run.
        K::Dns | K::ConnectionFailed | K::ProxyConnect if transfer.received == 0 => {
            Failure::Fatal(FetchError::Unreachable {
                url: url.to_string(),
                detail,
            })
        }
        K::InvalidUrl | K::UnknownScheme | K::InvalidProxyUrl | K::InsecureRequestHttpsOnly => {
            Failure::Fatal(FetchError::Usage(format!(
                "cannot use the URL {url}: {detail}"
            )))
        }
        K::TooManyRedirects | K::BadStatus | K::BadHeader | K::HTTP | K::ProxyUnauthorized => {
            Failure::Fatal(FetchError::Http {
                url: url.to_string(),
                path: spec.path.clone(),
                status: "a malformed answer".into(),
                reason: detail,
            })
        }
        // I/O errors (reset, timeout waiting for the answer) and reconnect failures
        // after a cut.
        _ => Failure::Transient(detail),
    }
}

/// A transport error as one line: its kind, message and causes, without the URL.
fn describe(t: &ureq::Transport) -> String {
    let mut out = t.kind().to_string();
    if let Some(m) = t.message() {
        out.push_str(&format!(": {m}"));
    }
    let mut source = std::error::Error::source(t);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// The first byte of `Content-Range: bytes FIRST-LAST/TOTAL`.
fn content_range_start(value: Option<&str>) -> Option<u64> {
    let rest = value?.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

/// Opens the `.part` file for appending at `start` (truncating it to `start`), creating
/// its folder if needed.
fn open_part(part: &Path, start: u64) -> Result<File, FetchError> {
    if let Some(parent) = part.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| FetchError::local(parent, format!("cannot create the folder: {e}")))?;
    }
    let werr = |e: std::io::Error| FetchError::local(part, format!("cannot write: {e}"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(part)
        .map_err(werr)?;
    file.set_len(start).map_err(werr)?;
    Ok(file)
}

fn truncate(part: &Path) -> Result<(), FetchError> {
    match std::fs::remove_file(part) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FetchError::local(part, format!("cannot remove: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_is_parsed() {
        assert_eq!(content_range_start(Some("bytes 100-199/200")), Some(100));
        assert_eq!(content_range_start(Some("bytes 0-0/*")), Some(0));
        assert_eq!(content_range_start(Some("items 1-2/3")), None);
        assert_eq!(content_range_start(Some("bytes x-2/3")), None);
        assert_eq!(content_range_start(None), None);
    }
}
