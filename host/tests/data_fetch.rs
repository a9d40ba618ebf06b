//! `deepiot data fetch` against a local HTTP server on 127.0.0.1.
//!
//! The server serves a small synthetic fixture laid out like a mirror (a tiny MNIST of
//! gzip'd IDX files and a second data set with a gzip'd CSV and a text file) plus a copy
//! of the MNIST files with another gzip wrapper where an "original" would be. It can cut
//! the connection after K bytes on the first request for a file, serve other bytes than
//! the fixture for a file, or answer 404, and it logs every request with its `Range`.
//! This machine cannot reach the real sources, so the real URLs are never contacted.
//!
//! The last tests check the built-in table against the real data sets when they are
//! here (`../shared/data`, `$DEEPIOT_DATA` or the user's data folder), serving them
//! through the same server to the real binary.
use deepiot::data::fetch::{
    self, code, Check, DataSet, FetchError, FileSpec, Invalid, Options, Origin, Outcome, Report,
    Silent, Source,
};
use deepiot::data::{self, sha256_hex, DataRoot};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// A scripted misbehaviour for one path.
#[derive(Clone)]
enum Fault {
    /// Close the connection after this many body bytes, on the first request only.
    CutOnce(usize),
    /// Serve these bytes instead of the file.
    Serve(Vec<u8>),
    /// Answer 404.
    NotFound,
    /// Close the connection after this many body bytes, on every request.
    CutAlways(usize),
    /// Send this many body bytes on the first request, then stall (keep the connection
    /// open, send nothing) for the given time.
    StallOnce(usize, Duration),
    /// Answer every request with the whole file (`200`), whatever its `Range`.
    IgnoreRange,
}

/// One request the server saw.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
}

/// What the server serves: a path (without the leading `/`) to bytes.
type Files = Arc<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

struct Server {
    base: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(files: Files, faults: HashMap<String, Fault>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(faults);
        let thread_log = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, faults, log) = (files.clone(), faults.clone(), thread_log.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &files, &faults, &log);
                });
            }
        });
        Server { base, log }
    }

    fn fixture(fx: &Fixture, faults: HashMap<String, Fault>) -> Server {
        let files = fx.served.clone();
        Server::start(Arc::new(move |p| files.get(p).cloned()), faults)
    }

    fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    fn requests_for(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path == path)
            .collect()
    }
}

/// Answers one request (HTTP/1.1, GET, optional `Range: bytes=N-`), then closes.
fn serve(
    stream: TcpStream,
    files: &Files,
    faults: &HashMap<String, Fault>,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let first = {
        let mut log = log.lock().unwrap();
        let first = !log.iter().any(|s| s.path == path);
        log.push(Seen {
            path: path.clone(),
            range: range.clone(),
        });
        first
    };
    let mut out = stream;
    let fault = faults.get(&path).cloned();
    let body = match (&fault, files(&path)) {
        (Some(Fault::NotFound), _) | (_, None) => {
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
            )?;
            return out.shutdown(Shutdown::Both);
        }
        (Some(Fault::Serve(other)), _) => other.clone(),
        (_, Some(b)) => b,
    };
    let range = match fault {
        Some(Fault::IgnoreRange) => None,
        _ => range,
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let len = body.len();
    let (head, slice) = match start {
        Some(s) if s >= len => {
            write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return out.shutdown(Shutdown::Both);
        }
        Some(s) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{len}\r\n\
                 Content-Length: {}\r\n",
                len - 1,
                len - s
            ),
            &body[s..],
        ),
        None => (
            format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n"),
            &body[..],
        ),
    };
    write!(
        out,
        "{head}Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )?;
    match fault {
        Some(Fault::CutOnce(k)) if first => out.write_all(&slice[..k.min(slice.len())])?,
        Some(Fault::CutAlways(k)) => out.write_all(&slice[..k.min(slice.len())])?,
        Some(Fault::StallOnce(k, pause)) if first => {
            out.write_all(&slice[..k.min(slice.len())])?;
            out.flush()?;
            std::thread::sleep(pause);
        }
        _ => out.write_all(slice)?,
    }
    out.flush()?;
    out.shutdown(Shutdown::Both)
}

// ---------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------

fn gzip(bytes: &[u8], level: u32, name: Option<&str>) -> Vec<u8> {
    let mut b = flate2::GzBuilder::new().mtime(0);
    if let Some(n) = name {
        b = b.filename(n);
    }
    let mut e = b.write(Vec::new(), flate2::Compression::new(level));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Bytes that do not compress (a 64-bit LCG), so a cut after 1,000 bytes falls inside.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// The big MNIST file the cut tests aim at.
const TRAIN_IMAGES: &str = "mnist/train-images-idx3-ubyte.gz";
/// The second data set: a gzip'd CSV and a text file pinned raw.
const NOTES_CSV: &str = "notes/1.csv.gz";
const NOTES_DESC: &str = "notes/desc.txt";
/// Where the "original" MNIST lives on the test server.
const ORIGINAL: &str = "original-mnist";
const NOTES_URL: &str = "https://example.invalid/notes.zip";

struct Fixture {
    /// Path on the server to bytes: the mirror layout plus `original-mnist/`.
    served: HashMap<String, Vec<u8>>,
    /// The catalog pinning the fixture.
    sets: Vec<DataSet>,
}

impl Fixture {
    fn new(base: &str) -> Fixture {
        Self::with_original_base(&format!("{base}/{ORIGINAL}/"))
    }

    /// The catalog needs the server's address for the "original"; the files do not.
    fn with_original_base(original_base: &str) -> Fixture {
        let mut served = HashMap::new();
        let mut mnist = Vec::new();
        for (name, magic, dims, seed) in [
            ("train-images-idx3-ubyte.gz", 0x803, vec![3u32, 28, 28], 1),
            ("train-labels-idx1-ubyte.gz", 0x801, vec![3], 2),
            ("t10k-images-idx3-ubyte.gz", 0x803, vec![2, 28, 28], 3),
            ("t10k-labels-idx1-ubyte.gz", 0x801, vec![2], 4),
        ] {
            let n: u32 = dims.iter().product();
            let mut data = noise(n as usize, seed);
            if magic == 0x801 {
                data.iter_mut().for_each(|l| *l %= 10);
            }
            let content = idx(magic, &dims, &data);
            // The mirror and the "original" hold the same content in different gzip
            // wrappers, as the real ones do.
            served.insert(format!("mnist/{name}"), gzip(&content, 9, None));
            served.insert(format!("{ORIGINAL}/{name}"), gzip(&content, 1, Some(name)));
            mnist.push(FileSpec::new(
                &format!("mnist/{name}"),
                Check::Gunzipped,
                content.len() as u64,
                &sha256_hex(&content),
            ));
        }
        let csv = b"1,2000,2001,2002,1\n2,2003,2004,2005,1\n".repeat(40);
        let desc = b"a tiny data set for the fetch tests\n".to_vec();
        served.insert(NOTES_CSV.into(), gzip(&csv, 6, None));
        served.insert(NOTES_DESC.into(), desc.clone());
        let sets = vec![
            DataSet {
                name: "mnist".into(),
                tasks: vec!["mnist".into()],
                title: "tiny MNIST".into(),
                origin: Origin::Direct {
                    base: original_base.into(),
                    home: "http://example.invalid/mnist/".into(),
                },
                files: mnist,
            },
            DataSet {
                name: "notes".into(),
                tasks: vec!["notes-task".into(), "other-task".into()],
                title: "notes".into(),
                origin: Origin::Repackaged {
                    url: NOTES_URL.into(),
                    packaging: "it is a zip of plain CSV files".into(),
                },
                files: vec![
                    FileSpec::new(
                        NOTES_CSV,
                        Check::Gunzipped,
                        csv.len() as u64,
                        &sha256_hex(&csv),
                    ),
                    FileSpec::new(
                        NOTES_DESC,
                        Check::Raw,
                        desc.len() as u64,
                        &sha256_hex(&desc),
                    ),
                ],
            },
        ];
        Fixture { served, sets }
    }
}

/// A fixture and its server. The fixture's bytes do not depend on the address.
fn setup(faults: HashMap<String, Fault>) -> (Fixture, Server) {
    let files = Fixture::with_original_base("unused");
    let server = Server::fixture(&files, faults);
    (Fixture::new(&server.base), server)
}

fn opts() -> Options {
    Options {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        retries: 3,
        retry_delay: Duration::ZERO,
    }
}

fn mirror(server: &Server) -> Source {
    Source::mirror(&server.base).unwrap()
}

/// Fetches `sets` into `dest` from `server` as the mirror, with [`opts`].
fn fetch_from(server: &Server, sets: &[DataSet], dest: &Path) -> Result<Report, FetchError> {
    fetch::fetch(sets, dest, &mirror(server), &opts(), &Silent)
}

/// `dest/path` holds exactly what the server serves for `path`.
fn assert_fetched(fx: &Fixture, dest: &Path, path: &str) {
    assert_eq!(
        std::fs::read(dest.join(path)).unwrap(),
        fx.served[path],
        "{path}"
    );
}

/// Leaves `bytes` in `dest` as the partial download of `path` (as a cut run does).
fn plant_part(dest: &Path, path: &str, bytes: &[u8]) {
    let part = fetch::part_path(dest, path);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, bytes).unwrap();
}

/// Every file under `dir`, relative, with `/` separators, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy();
                out.push(rel.replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn sums(dest: &Path) -> String {
    std::fs::read_to_string(dest.join(data::SUMS_FILE)).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

#[test]
fn good_download_is_verified_recorded_and_skipped_the_second_time() {
    let (fx, server) = setup(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("data");
    std::fs::create_dir_all(&dest).unwrap();
    // An entry for another data set survives the merge.
    let other = format!("{}  ./cifar10-jpeg/test.tar.gz\n", "ab".repeat(32));
    std::fs::write(dest.join(data::SUMS_FILE), &other).unwrap();

    let report = fetch_from(&server, &fx.sets, &dest).unwrap();
    assert_eq!(report.downloaded(), 6);
    assert!(report.files.iter().all(|f| f.outcome
        == Outcome::Downloaded {
            received: fx.served[&f.path].len() as u64,
            resumed: false
        }));
    let mut expected = vec![
        data::SUMS_FILE.to_string(),
        "mnist/t10k-images-idx3-ubyte.gz".into(),
        "mnist/t10k-labels-idx1-ubyte.gz".into(),
        "mnist/train-images-idx3-ubyte.gz".into(),
        "mnist/train-labels-idx1-ubyte.gz".into(),
        NOTES_CSV.into(),
        NOTES_DESC.into(),
    ];
    expected.sort();
    assert_eq!(tree(&dest), expected, "no .part or temporary file is left");
    for set in &fx.sets {
        for f in &set.files {
            assert_fetched(&fx, &dest, &f.path);
            let line = format!("{}  ./{}\n", sha256_hex(&fx.served[&f.path]), f.path);
            assert!(sums(&dest).contains(&line), "{line} in\n{}", sums(&dest));
        }
    }
    assert!(sums(&dest).contains(&other));
    assert!(server.requests().iter().all(|r| r.range.is_none()));

    // The loaders read the result, checking it against SHA256SUMS.
    let root = DataRoot::new(&dest);
    let ds = data::load("mnist", &root).unwrap();
    assert_eq!((ds.train_len(), ds.test_len()), (3, 2));
    root.read(NOTES_DESC).unwrap();

    // Second run: nothing is requested.
    let before = server.requests().len();
    let again = fetch_from(&server, &fx.sets, &dest).unwrap();
    assert_eq!(again.downloaded(), 0);
    assert!(again
        .files
        .iter()
        .all(|f| f.outcome == Outcome::AlreadyThere));
    assert_eq!(server.requests().len(), before);
}

#[test]
fn cut_download_resumes_with_a_range_request() {
    let cut = 1000;
    let faults = HashMap::from([(TRAIN_IMAGES.to_string(), Fault::CutOnce(cut))]);
    let (fx, server) = setup(faults);
    assert!(fx.served[TRAIN_IMAGES].len() > 2 * cut);
    let tmp = tempfile::tempdir().unwrap();
    let report = fetch_from(&server, &fx.sets[..1], tmp.path()).unwrap();

    let seen = server.requests_for(TRAIN_IMAGES);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range, None);
    assert_eq!(
        seen[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str())
    );
    let f = report
        .files
        .iter()
        .find(|f| f.path == TRAIN_IMAGES)
        .unwrap();
    assert_eq!(
        f.outcome,
        Outcome::Downloaded {
            received: fx.served[TRAIN_IMAGES].len() as u64,
            resumed: true
        }
    );
    assert_fetched(&fx, tmp.path(), TRAIN_IMAGES);
    assert!(!fetch::part_path(tmp.path(), TRAIN_IMAGES).exists());
    data::load("mnist", &DataRoot::new(tmp.path())).unwrap();
}

#[test]
fn connection_that_keeps_dropping_keeps_the_part_for_the_next_run() {
    let faults = HashMap::from([(TRAIN_IMAGES.to_string(), Fault::CutAlways(100))]);
    let (fx, server) = setup(faults);
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch_from(&server, &fx.sets[..1], tmp.path()).unwrap_err();
    assert!(matches!(err, FetchError::ConnectionLost { .. }), "{err:?}");
    assert_eq!(err.exit_code(), code::CONNECTION_LOST);
    assert!(err.to_string().contains("run the command again"), "{err}");
    // First request and `retries` resumes, 100 bytes each; no final file.
    let part = fetch::part_path(tmp.path(), TRAIN_IMAGES);
    assert_eq!(
        std::fs::read(&part).unwrap(),
        fx.served[TRAIN_IMAGES][..400]
    );
    assert!(!tmp.path().join(TRAIN_IMAGES).exists());

    // The next run, on a good connection, carries on from there.
    let (fx, server) = setup(HashMap::new());
    fetch_from(&server, &fx.sets[..1], tmp.path()).unwrap();
    assert_eq!(
        server.requests_for(TRAIN_IMAGES)[0].range.as_deref(),
        Some("bytes=400-")
    );
    assert_fetched(&fx, tmp.path(), TRAIN_IMAGES);
}

#[test]
fn stalled_transfer_times_out_and_resumes() {
    let faults = HashMap::from([(
        TRAIN_IMAGES.to_string(),
        Fault::StallOnce(500, Duration::from_secs(3)),
    )]);
    let (fx, server) = setup(faults);
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        read_timeout: Duration::from_millis(300),
        ..opts()
    };
    let t = std::time::Instant::now();
    fetch::fetch(&fx.sets[..1], tmp.path(), &mirror(&server), &opts, &Silent).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "did not wait for the stall"
    );
    let seen = server.requests_for(TRAIN_IMAGES);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].range.as_deref(), Some("bytes=500-"));
    assert_fetched(&fx, tmp.path(), TRAIN_IMAGES);
}

#[test]
fn server_ignoring_the_range_restarts_the_file() {
    let faults = HashMap::from([(TRAIN_IMAGES.to_string(), Fault::IgnoreRange)]);
    let (fx, server) = setup(faults);
    let tmp = tempfile::tempdir().unwrap();
    plant_part(tmp.path(), TRAIN_IMAGES, &fx.served[TRAIN_IMAGES][..700]);
    let report = fetch_from(&server, &fx.sets[..1], tmp.path()).unwrap();
    assert_eq!(server.requests_for(TRAIN_IMAGES).len(), 1);
    assert!(matches!(
        report.files[0].outcome,
        Outcome::Downloaded { resumed: false, .. }
    ));
    assert_fetched(&fx, tmp.path(), TRAIN_IMAGES);
}

#[test]
fn part_left_by_an_earlier_run_is_resumed_and_a_foreign_one_restarted() {
    let (fx, server) = setup(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    plant_part(tmp.path(), TRAIN_IMAGES, &fx.served[TRAIN_IMAGES][..700]);
    let report = fetch_from(&server, &fx.sets[..1], tmp.path()).unwrap();
    let seen = server.requests_for(TRAIN_IMAGES);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].range.as_deref(), Some("bytes=700-"));
    assert!(matches!(
        report.files[0].outcome,
        Outcome::Downloaded { resumed: true, .. }
    ));
    assert_fetched(&fx, tmp.path(), TRAIN_IMAGES);

    // A partial file from another version of the file fails verification once
    // resumed; the file is then downloaded again from the start.
    let tmp = tempfile::tempdir().unwrap();
    plant_part(tmp.path(), TRAIN_IMAGES, &noise(700, 99));
    let before = server.requests_for(TRAIN_IMAGES).len();
    fetch_from(&server, &fx.sets[..1], tmp.path()).unwrap();
    let seen = &server.requests_for(TRAIN_IMAGES)[before..];
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range.as_deref(), Some("bytes=700-"));
    assert_eq!(seen[1].range, None);
    assert_fetched(&fx, tmp.path(), TRAIN_IMAGES);
}

#[test]
fn corrupted_file_fails_clearly_and_leaves_nothing() {
    // Valid gzip, wrong content: the message gives both digests.
    let wrong = b"1,2000,2001,2002,1\n".repeat(80);
    let faults = HashMap::from([(NOTES_CSV.to_string(), Fault::Serve(gzip(&wrong, 6, None)))]);
    let (fx, server) = setup(faults);
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch_from(&server, &fx.sets[1..], tmp.path()).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.exit_code(), code::CORRUPT, "{msg}");
    let pinned = &fx.sets[1].files[0].sha256;
    assert!(msg.contains(NOTES_CSV), "{msg}");
    assert!(
        msg.contains(pinned) && msg.contains(&sha256_hex(&wrong)),
        "{msg}"
    );
    assert!(msg.contains("deleted"), "{msg}");
    assert!(
        matches!(&err, FetchError::Corrupt { problem, .. } if matches!(**problem, Invalid::Mismatch { .. })),
        "{err:?}"
    );
    assert!(!tmp.path().join(NOTES_CSV).exists());
    assert!(!fetch::part_path(tmp.path(), NOTES_CSV).exists());
    assert!(!tmp.path().join("notes").exists(), "no empty folder left");
    // Nothing unverified is recorded either.
    assert!(!sums(tmp.path()).contains(NOTES_CSV));

    // Damaged gzip bytes: refused as not gzip, nothing left.
    let mut damaged = fx.served[TRAIN_IMAGES].clone();
    let mid = damaged.len() / 2;
    damaged[mid..mid + 16].iter_mut().for_each(|b| *b ^= 0x5a);
    let faults = HashMap::from([(TRAIN_IMAGES.to_string(), Fault::Serve(damaged))]);
    let (fx, server) = setup(faults);
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch_from(&server, &fx.sets[..1], tmp.path()).unwrap_err();
    assert_eq!(err.exit_code(), code::CORRUPT, "{err}");
    assert!(err.to_string().contains(TRAIN_IMAGES), "{err}");
    assert!(!tmp.path().join(TRAIN_IMAGES).exists());
    assert!(!fetch::part_path(tmp.path(), TRAIN_IMAGES).exists());
}

#[test]
fn present_file_that_does_not_verify_is_replaced() {
    let (fx, server) = setup(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let desc = tmp.path().join(NOTES_DESC);
    std::fs::create_dir_all(desc.parent().unwrap()).unwrap();
    std::fs::write(&desc, "changed by hand\n").unwrap();
    fetch_from(&server, &fx.sets[1..], tmp.path()).unwrap();
    assert_eq!(std::fs::read(&desc).unwrap(), fx.served[NOTES_DESC]);
    let status = fetch::status(&fx.sets[1], tmp.path()).unwrap();
    assert_eq!(status, fetch::SetStatus::Verified);
}

#[test]
fn unreachable_mirror_is_its_own_error() {
    let (fx, _server) = setup(HashMap::new());
    let port = free_port();
    let source = Source::mirror(&format!("http://127.0.0.1:{port}")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("data");
    let t = std::time::Instant::now();
    let err = fetch::fetch(&fx.sets, &dest, &source, &opts(), &Silent).unwrap_err();
    // A destination that existed is left alone.
    let err2 = fetch::fetch(&fx.sets, tmp.path(), &source, &opts(), &Silent).unwrap_err();
    assert_eq!(err2.exit_code(), code::UNREACHABLE);
    assert!(tmp.path().is_dir());
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.exit_code(), code::UNREACHABLE);
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "refused fails at once, no retries"
    );
    // Not even a folder: an empty data folder would hide the next ones the loaders search.
    assert!(!dest.exists(), "nothing written");
}

#[test]
fn missing_file_on_the_mirror_is_an_http_error() {
    let faults = HashMap::from([(NOTES_DESC.to_string(), Fault::NotFound)]);
    let (fx, server) = setup(faults);
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch_from(&server, &fx.sets[1..], tmp.path()).unwrap_err();
    assert_eq!(err.exit_code(), code::HTTP, "{err}");
    assert!(
        err.to_string().contains("404") && err.to_string().contains(NOTES_DESC),
        "{err}"
    );
    assert!(!tmp.path().join(NOTES_DESC).exists());
    // The file verified before the failure is recorded.
    assert!(sums(tmp.path()).contains(NOTES_CSV));
}

#[test]
fn originals_serve_direct_sets_and_the_others_need_a_mirror() {
    let (fx, server) = setup(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    // Without a mirror: MNIST from its "original" (other gzip bytes, same content), then
    // the repackaged set is refused with its URL and how to use a mirror.
    let err = fetch::fetch(&fx.sets, tmp.path(), &Source::Originals, &opts(), &Silent).unwrap_err();
    assert_eq!(err.exit_code(), code::NEEDS_MIRROR, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(NOTES_URL) && msg.contains("zip"), "{msg}");
    assert!(
        msg.contains("--mirror") && msg.contains(fetch::MIRROR_ENV),
        "{msg}"
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.path.starts_with(&format!("{ORIGINAL}/"))));
    for f in &fx.sets[0].files {
        let name = f.path.rsplit('/').next().unwrap();
        let original = &fx.served[&format!("{ORIGINAL}/{name}")];
        assert_ne!(original, &fx.served[&f.path]);
        assert_eq!(&std::fs::read(tmp.path().join(&f.path)).unwrap(), original);
    }
    data::load("mnist", &DataRoot::new(tmp.path())).unwrap();
    assert!(!tmp.path().join("notes").exists());

    // Once the set is there (from a mirror), no mirror is needed any more.
    fetch_from(&server, &fx.sets[1..], tmp.path()).unwrap();
    fetch::fetch(&fx.sets, tmp.path(), &Source::Originals, &opts(), &Silent).unwrap();
}

#[test]
fn names_select_data_sets() {
    let fx = Fixture::with_original_base("unused");
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pick = |v: &[&str]| {
        fetch::select(&fx.sets, &names(v))
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(&[]), ["mnist", "notes"]);
    assert_eq!(pick(&["other-task", "notes-task", "notes"]), ["notes"]);
    let err = fetch::select(&fx.sets, &names(&["imagenet"])).unwrap_err();
    assert_eq!(err.exit_code(), code::USAGE);
    assert!(err.to_string().contains("notes-task"), "{err}");
    assert!(Source::mirror("ftp://x").is_err());
    assert!(Source::mirror("http://").is_err());
    // The built-in table knows every task the loaders know.
    let builtin = fetch::catalog::builtin();
    for task in data::TASKS {
        assert_eq!(fetch::select(&builtin, &names(&[task])).unwrap().len(), 1);
    }
}

/// A port nothing listens on.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------

fn deepiot(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_deepiot"))
        .args(args)
        .env_remove(fetch::MIRROR_ENV)
        .env_remove(data::DATA_ENV)
        .output()
        .unwrap()
}

#[test]
fn binary_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().to_str().unwrap();
    let mirror = format!("http://127.0.0.1:{}", free_port());
    let out = deepiot(&[
        "data", "fetch", "mnist", "--mirror", &mirror, "--dest", dest,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code::UNREACHABLE.into()),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot reach") && stderr.contains(&mirror),
        "{stderr}"
    );

    let out = deepiot(&["data", "fetch", "har", "--dest", dest]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code::NEEDS_MIRROR.into()),
        "{stderr}"
    );
    assert!(stderr.contains(fetch::catalog::CASALE_URL) && stderr.contains("--mirror"));
    assert_eq!(
        std::fs::read_dir(dest).unwrap().count(),
        0,
        "nothing created"
    );

    let out = deepiot(&["data", "fetch", "imagenet", "--dest", dest]);
    assert_eq!(out.status.code(), Some(code::USAGE.into()));

    let out = deepiot(&["data", "fetch", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit codes") && help.contains("24"), "{help}");
}

// ---------------------------------------------------------------------------------------
// The built-in table against the real data
// ---------------------------------------------------------------------------------------

/// The data root holding the real MNIST, or `None` after saying why the test is skipped
/// (a failure with `DEEPIOT_REQUIRE_DATA=1`): [`deepiot::data::probe`], as every data test.
fn real_root(test: &str) -> Option<PathBuf> {
    deepiot::data::probe::data_or_skip(test, "mnist").map(|r| r.path)
}

#[test]
fn builtin_table_matches_the_real_data() {
    let Some(root) = real_root("builtin_table_matches_the_real_data") else {
        return;
    };
    let mut checked = 0;
    for set in fetch::catalog::builtin() {
        if !root.join(&set.name).is_dir() {
            println!("{}: not in {}, not checked", set.name, root.display());
            continue;
        }
        for f in &set.files {
            let path = fetch::file_path(&root, &f.path);
            match fetch::verify_file(&path, f) {
                Ok(Ok(_)) => checked += 1,
                Ok(Err(bad)) => panic!("{}: {bad}", path.display()),
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
    }
    println!("{checked} files match the built-in table");
    assert!(checked >= 4);
}

#[test]
fn binary_fetches_real_mnist_through_a_local_mirror() {
    let Some(root) = real_root("binary_fetches_real_mnist_through_a_local_mirror") else {
        return;
    };
    // Serves the real files read from the data root, as a mirror would.
    let files: Files = Arc::new(move |p: &str| {
        if p.split('/').any(|c| c == ".." || c.is_empty()) {
            return None;
        }
        let mut bytes = Vec::new();
        std::fs::File::open(fetch::file_path(&root, p))
            .ok()?
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    });
    let faults = HashMap::from([(TRAIN_IMAGES.to_string(), Fault::CutOnce(1 << 20))]);
    let server = Server::start(files, faults);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().to_str().unwrap();
    let t = std::time::Instant::now();
    let out = deepiot(&[
        "data",
        "fetch",
        "mnist",
        "--mirror",
        &server.base,
        "--dest",
        dest,
    ]);
    let secs = t.elapsed().as_secs_f64();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    println!("real MNIST through a local mirror, with one cut: {secs:.2} s\n{stdout}");
    let seen = server.requests_for(TRAIN_IMAGES);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=1048576-"));
    let ds = data::load("mnist", &DataRoot::new(tmp.path())).unwrap();
    assert_eq!((ds.train_len(), ds.test_len()), (60_000, 10_000));

    let out = deepiot(&["data", "fetch", "--list", "--dest", dest]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("present, verified"), "{stdout}");
    assert!(stdout.contains(fetch::catalog::CIFAR_URL), "{stdout}");
}
