//! The data-set loaders against the real data sets, the bundled MNIST subset, and
//! synthetic or corrupt copies made in temporary folders.
//!
//! The real data sets are found as the CLI finds them (`$DEEPIOT_DATA`, the user's data
//! folder, `../shared/data`; see `deepiot::data::probe`). A test that needs one which is
//! not there prints one `skipped TEST: ...` line saying how to get it and passes, so a
//! fresh clone passes and says what it did not check; with `DEEPIOT_REQUIRE_DATA=1` it
//! fails instead. Everything that needs no real data always runs: the loaders on
//! synthetic files, the errors on corrupt files, the bundled subset against its checksums.
//!
//! Each real data set is loaded once per test binary; the load time is printed (see it
//! with `cargo test -p deepiot --test data -- --nocapture --test-threads 1`).
use deepiot::data::{self, casale, cifar, fsdd, mnist, probe, DataError, DataRoot, Dataset, Split};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

/// A 32x32 RGB baseline JPEG standing in for a CIFAR-10 image (see `fixtures/README.md`).
const JPEG_32X32: &[u8] = include_bytes!("fixtures/rgb-32x32.jpg");

fn timed_load(task: &str, root: &DataRoot) -> Dataset {
    let t = Instant::now();
    let ds = data::load(task, root).unwrap_or_else(|e| panic!("loading {task}: {e}"));
    eprintln!(
        "loaded {task}: {} train + {} test examples of {:?} in {:.2} s",
        ds.train_len(),
        ds.test_len(),
        ds.shape,
        t.elapsed().as_secs_f64()
    );
    ds
}

/// `fn NAME(test) -> Option<&'static Dataset>`: the full data set of a task, loaded once
/// per test binary; `None` after the skip line when the data set is not here.
macro_rules! cached {
    ($name:ident, $task:expr) => {
        fn $name(test: &str) -> Option<&'static Dataset> {
            static CELL: OnceLock<Dataset> = OnceLock::new();
            let root = probe::data_or_skip(test, $task)?;
            Some(CELL.get_or_init(|| timed_load($task, &root)))
        }
    };
}
cached!(mnist_full, "mnist");
cached!(har, "har");
cached!(speech, "speech");
cached!(cifar10, "cifar10");

/// Mean and population std of every index along `axis` of a split.
fn axis_stats(ds: &Dataset, split: Split, axis: usize) -> (Vec<f64>, Vec<f64>) {
    let (x, _) = ds.split(split);
    let inner: usize = ds.shape[axis + 1..].iter().product();
    let n = ds.shape[axis];
    let (mut s, mut q, mut c) = (vec![0f64; n], vec![0f64; n], vec![0f64; n]);
    for (i, &v) in x.iter().enumerate() {
        let k = (i / inner) % n;
        s[k] += v as f64;
        q[k] += (v as f64) * (v as f64);
        c[k] += 1.0;
    }
    let mean: Vec<f64> = s.iter().zip(&c).map(|(s, c)| s / c).collect();
    let std = q
        .iter()
        .zip(&c)
        .zip(&mean)
        .map(|((q, c), m)| (q / c - m * m).sqrt())
        .collect();
    (mean, std)
}

fn assert_consistent(ds: &Dataset) {
    let n = ds.example_len();
    assert_eq!(ds.train_x.len(), ds.train_len() * n);
    assert_eq!(ds.test_x.len(), ds.test_len() * n);
    assert!(ds.train_x.iter().chain(&ds.test_x).all(|v| v.is_finite()));
    let (x, y) = ds.example(Split::Test, ds.test_len() - 1);
    assert_eq!(x.len(), n);
    assert_eq!(y, *ds.test_y.last().unwrap());
}

// ---------------------------------------------------------------- MNIST

#[test]
fn mnist_sizes_range_and_class_counts() {
    let Some(ds) = mnist_full("mnist_sizes_range_and_class_counts") else {
        return;
    };
    assert_consistent(ds);
    assert_eq!((ds.train_len(), ds.test_len()), (60_000, 10_000));
    assert_eq!(ds.shape, vec![1, 28, 28]);
    assert_eq!(ds.classes.len(), 10);
    assert!(ds.train_x.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(
        ds.class_counts(Split::Train),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        ds.class_counts(Split::Test),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let mean = ds.train_x.iter().map(|&v| v as f64).sum::<f64>() / ds.train_x.len() as f64;
    assert!((mean - 0.1307).abs() < 1e-3, "{mean}");
}

#[test]
fn bundled_subset_matches_its_checksums_and_holds_only_mnist() {
    // Every committed file is listed in SHA256SUMS with its digest (loading checks them
    // too, file by file as it reads them).
    let dir = data::bundled_dir();
    let sums = std::fs::read_to_string(dir.join(data::SUMS_FILE)).unwrap();
    for name in [
        mnist::TRAIN_IMAGES,
        mnist::TRAIN_LABELS,
        mnist::TEST_IMAGES,
        mnist::TEST_LABELS,
    ] {
        let digest = data::sha256_hex(&std::fs::read(dir.join(name)).unwrap());
        assert!(
            sums.lines()
                .any(|l| l.starts_with(&digest) && l.ends_with(name)),
            "{name} ({digest}) is not in {}:\n{sums}",
            data::SUMS_FILE
        );
    }

    let root = DataRoot::bundled();
    let sub = data::load("mnist", &root).unwrap();
    assert_eq!(sub.name, "mnist-subset");
    assert_eq!((sub.train_len(), sub.test_len()), (5000, 1000));
    // Every class is there.
    assert!(sub.class_counts(Split::Train).iter().all(|&c| c > 400));

    let err = data::load("har", &root).unwrap_err();
    assert!(matches!(err, DataError::NotBundled { .. }), "{err}");
    assert!(err.to_string().contains("--data"), "{err}");
}

#[test]
fn bundled_subset_is_the_head_of_mnist_and_reproducible() {
    let test = "bundled_subset_is_the_head_of_mnist_and_reproducible";
    let Some(full_root) = probe::data_or_skip(test, "mnist") else {
        return;
    };
    let dst = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-subset");
    if std::env::var_os("DEEPIOT_WRITE_MNIST_SUBSET").is_some() {
        // The one-off that made the committed files:
        // DEEPIOT_WRITE_MNIST_SUBSET=1 cargo test -p deepiot --test data bundled_subset
        mnist::write_mnist_subset(&full_root, &dst, 5000, 1000).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    mnist::write_mnist_subset(&full_root, tmp.path(), 5000, 1000).unwrap();
    for name in [
        mnist::TRAIN_IMAGES,
        mnist::TRAIN_LABELS,
        mnist::TEST_IMAGES,
        mnist::TEST_LABELS,
        data::SUMS_FILE,
    ] {
        let made = std::fs::read(tmp.path().join(name)).unwrap();
        let committed = std::fs::read(dst.join(name)).unwrap();
        assert!(
            made == committed,
            "{name} differs from what write_mnist_subset makes"
        );
    }

    let sub = data::load("mnist", &DataRoot::bundled()).unwrap();
    let Some(full) = mnist_full(test) else {
        return;
    };
    assert_eq!(sub.train_x[..], full.train_x[..5000 * 784]);
    assert_eq!(sub.test_y[..], full.test_y[..1000]);
}

#[test]
fn root_resolution_prefers_explicit_then_env() {
    use data::RootOrigin;
    /// Where `resolve_from(explicit, env, user, cwd)` goes, as (origin, canonical path).
    fn found(places: [Option<&Path>; 4]) -> (RootOrigin, PathBuf) {
        let [explicit, env, user, cwd] = places;
        let r = DataRoot::resolve_from(explicit, env, user, cwd).unwrap();
        (r.origin, r.path.canonicalize().unwrap())
    }
    // Temporary folders stand for each place, so that the order is checked whatever
    // exists on this machine.
    let tmp = tempfile::tempdir().unwrap();
    let place = |name: &str| {
        let p = tmp.path().join(name);
        std::fs::create_dir(&p).unwrap();
        p.canonicalize().unwrap()
    };
    let (explicit, env) = (place("explicit"), place("env"));
    let (user, cwd) = (place("user"), place("cwd"));
    let (explicit, env, user, cwd) = (&*explicit, &*env, &*user, &*cwd);
    let missing = &*tmp.path().join("missing");

    let r = DataRoot::resolve_from(Some(explicit), Some(Path::new("/nope")), None, None).unwrap();
    assert_eq!(r.origin, RootOrigin::Explicit);
    assert_eq!(
        found([Some(explicit), Some(env), Some(user), Some(cwd)]),
        (RootOrigin::Explicit, explicit.to_path_buf())
    );
    let err = DataRoot::resolve_from(None, Some(Path::new("/nope/data")), Some(user), Some(cwd))
        .unwrap_err();
    assert!(err.to_string().contains("/nope/data") && err.to_string().contains("DEEPIOT_DATA"));
    assert_eq!(
        found([None, Some(env), Some(user), Some(cwd)]),
        (RootOrigin::Env, env.to_path_buf())
    );
    assert_eq!(
        found([None, None, Some(user), Some(cwd)]),
        (RootOrigin::User, user.to_path_buf())
    );
    assert_eq!(
        found([None, None, Some(missing), Some(cwd)]),
        (RootOrigin::CurrentDir, cwd.to_path_buf())
    );
    let r = DataRoot::resolve_from(None, None, None, Some(cwd)).unwrap();
    assert_eq!(r.origin, RootOrigin::CurrentDir);
    // With nothing else, the repository's ../shared/data when there is one, else the
    // bundled subset.
    let repo_shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let r = DataRoot::resolve_from(None, None, Some(missing), Some(missing)).unwrap();
    if repo_shared.is_dir() {
        assert_eq!(r.origin, RootOrigin::RepoRoot);
        assert_eq!(r.path, repo_shared.canonicalize().unwrap());
    } else {
        assert_eq!(r.origin, RootOrigin::Bundled);
        assert_eq!(r.path, data::bundled_dir());
    }
    let err = data::load("imagenet", &r).unwrap_err();
    assert!(err.to_string().contains("mnist, har"), "{err}");
}

// ---------------------------------------------------------------- Casale

#[test]
fn har_sizes_classes_and_train_only_standardisation() {
    let Some(ds) = har("har_sizes_classes_and_train_only_standardisation") else {
        return;
    };
    assert_consistent(ds);
    assert_eq!(
        ds.shape,
        vec![casale::AXES, casale::INTERVALS, casale::INTERVAL_LEN]
    );
    assert_eq!(ds.shape, vec![3, 8, 13]);
    assert_eq!(ds.classes.len(), 7);
    assert_eq!(ds.classes[3], "Walking");
    assert_eq!(ds.classes[0], "Working at Computer");
    let train = ds.class_counts(Split::Train);
    let test = ds.class_counts(Split::Test);
    eprintln!("har train per class {train:?}, test {test:?}");
    assert!(train.iter().chain(&test).all(|&c| c > 0));
    let frac = ds.train_len() as f64 / (ds.train_len() + ds.test_len()) as f64;
    assert!((0.68..0.75).contains(&frac), "train fraction {frac}");
    assert!(ds.train_len() + ds.test_len() > 30_000);

    let (m, s) = axis_stats(ds, Split::Train, 0);
    for a in 0..3 {
        assert!(
            m[a].abs() < 1e-3 && (s[a] - 1.0).abs() < 1e-3,
            "train axis {a}: {m:?} {s:?}"
        );
    }
    let (tm, _) = axis_stats(ds, Split::Test, 0);
    assert!(
        tm.iter().any(|m| m.abs() > 1e-3),
        "test means are exactly 0: {tm:?}"
    );
    // Raw ADC counts are around 2000.
    assert!(ds
        .input_norm
        .mean
        .iter()
        .all(|m| (1000.0..3000.0).contains(m)));
}

#[test]
fn casale_time_split_never_shares_samples() {
    let Some(root) = probe::data_or_skip("casale_time_split_never_shares_samples", "har") else {
        return;
    };
    let recs = casale::read_recordings(&root).unwrap();
    assert_eq!(recs.len(), 15);
    let rows: usize = recs.iter().map(|r| r.xyz.len()).sum();
    assert_eq!(rows, 1_926_896);
    for task in [casale::Task::Har, casale::Task::UserId] {
        let wins = casale::windows(&recs, task);
        for rec in &recs {
            let mine: Vec<_> = wins
                .iter()
                .filter(|w| w.participant == rec.participant)
                .collect();
            let mut used_by_train = vec![false; rec.xyz.len()];
            for w in mine.iter().filter(|w| w.split == Split::Train) {
                used_by_train[w.start..w.start + casale::WINDOW]
                    .iter_mut()
                    .for_each(|u| *u = true);
            }
            for w in &mine {
                // A window lies inside one run: every row carries the window's label.
                let labels = &rec.labels[w.start..w.start + casale::WINDOW];
                assert!(
                    labels.iter().all(|&l| l == w.label),
                    "window crosses a run: {w:?}"
                );
                if task == casale::Task::UserId {
                    assert_eq!(w.label, casale::WALKING);
                }
                if w.split == Split::Test {
                    assert!(
                        !used_by_train[w.start..w.start + casale::WINDOW]
                            .iter()
                            .any(|&u| u),
                        "test window {w:?} shares samples with a training window"
                    );
                }
            }
            // Within each run, every test window comes after every training window.
            for run in 0..10 {
                let last_train = mine
                    .iter()
                    .filter(|w| w.run == run && w.split == Split::Train)
                    .map(|w| w.start)
                    .max();
                let first_test = mine
                    .iter()
                    .filter(|w| w.run == run && w.split == Split::Test)
                    .map(|w| w.start)
                    .min();
                if let (Some(a), Some(b)) = (last_train, first_test) {
                    assert!(b >= a + casale::WINDOW);
                }
            }
        }
    }
}

#[test]
fn userid_and_cross_participant() {
    let test = "userid_and_cross_participant";
    let Some(root) = probe::data_or_skip(test, "userid") else {
        return;
    };
    let t = Instant::now();
    let uid = data::load("userid", &root).unwrap();
    eprintln!("loaded userid in {:.2} s", t.elapsed().as_secs_f64());
    assert_consistent(&uid);
    assert_eq!(uid.classes.len(), 15);
    assert_eq!(uid.classes[0], "participant 1");
    let (tr, te) = (
        uid.class_counts(Split::Train),
        uid.class_counts(Split::Test),
    );
    eprintln!("userid train per participant {tr:?}, test {te:?}");
    assert!(
        tr.iter().all(|&c| c > 20) && te.iter().all(|&c| c > 5),
        "{tr:?} {te:?}"
    );

    let xp = data::load("har_cross_participant", &root).unwrap();
    assert_consistent(&xp);
    assert_eq!(xp.classes.len(), 7);
    let Some(h) = har(test) else {
        return;
    };
    // Cross-participant keeps every window (no boundary drops): more than the time split.
    assert!(xp.train_len() + xp.test_len() > h.train_len() + h.test_len());
    let frac = xp.train_len() as f64 / (xp.train_len() + xp.test_len()) as f64;
    assert!((0.6..0.8).contains(&frac), "{frac}");
    let (tm, _) = axis_stats(&xp, Split::Test, 0);
    assert!(tm.iter().any(|m| m.abs() > 1e-3), "{tm:?}");
}

/// The label list of the Casale data set's `desc.txt`, in its layout.
const CASALE_DESC: &str = "Dataset Information
   --- Labels are codified by numbers
       --- 1: Working at Computer
       --- 2: Standing Up, Walking and Going up\\down stairs
       --- 3: Standing
       --- 4: Walking
       --- 5: Going Up\\Down Stairs
       --- 6: Walking and Talking with Someone
       --- 7: Talking while Standing                \n";

/// Writes a Casale-shaped root with synthetic participants into `dir`.
fn synthetic_casale(dir: &Path, bad: Option<(u32, &str)>) -> DataRoot {
    let folder = dir.join("casale-har");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("desc.txt"), CASALE_DESC).unwrap();
    for p in 1..=15u32 {
        let mut text = String::new();
        // 400 rows of walking (x = row number), 3 unlabelled rows, 300 rows standing.
        for i in 0..703u32 {
            let label = match i {
                0..400 => 4,
                400..403 => 0,
                _ => 3,
            };
            let seq = if i >= 600 {
                format!("{:e}", i as f64 * 200.0)
            } else {
                i.to_string()
            };
            text.push_str(&format!("{seq},{i},{},{},{label}\n", 2000 + p, 1000));
        }
        if let Some((bp, line)) = bad {
            if bp == p {
                let mut lines: Vec<&str> = text.lines().collect();
                lines[2] = line;
                text = lines.join("\n");
            }
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        std::fs::write(folder.join(format!("{p}.csv.gz")), gz.finish().unwrap()).unwrap();
    }
    DataRoot::new(dir)
}

#[test]
fn casale_window_layout_on_synthetic_data() {
    let tmp = tempfile::tempdir().unwrap();
    let root = synthetic_casale(tmp.path(), None);
    let ds = data::load("har", &root).unwrap();
    // Walking run: 400 rows -> 6 windows (starts 0..=260), 4 train, 1 dropped, 1 test.
    // Standing run: 300 rows -> 4 windows, 2 train, 1 dropped, 1 test.
    assert_eq!(ds.train_len(), 15 * (4 + 2));
    assert_eq!(ds.test_len(), 15 * 2);
    let (x, y) = ds.example(Split::Train, 1);
    assert_eq!(y, 3);
    let n = &ds.input_norm;
    // Example 1 of participant 1 starts at row 52; axis 0 is the row number.
    for t in 0..casale::INTERVALS {
        for l in 0..casale::INTERVAL_LEN {
            let raw = x[t * casale::INTERVAL_LEN + l] * n.std[0] + n.mean[0];
            assert!(
                (raw - (52 + t * 13 + l) as f32).abs() < 1e-2,
                "t {t} l {l}: {raw}"
            );
        }
    }
    // The test window of the walking run starts at row 260 (past 156 + 104).
    let (xt, yt) = ds.example(Split::Test, 0);
    assert_eq!(yt, 3);
    assert!((xt[0] * n.std[0] + n.mean[0] - 260.0).abs() < 1e-2);
    let uid = data::load("userid", &root).unwrap();
    assert_eq!((uid.train_len(), uid.test_len()), (60, 15));
    assert_eq!(uid.class_counts(Split::Test), vec![1; 15]);
}

#[test]
fn casale_bad_csv_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = synthetic_casale(tmp.path(), Some((7, "2,1,2")));
    let err = data::load("har", &root).unwrap_err().to_string();
    assert!(err.contains("7.csv.gz") && err.contains("line 3"), "{err}");
    let root = synthetic_casale(tmp.path(), Some((9, "2,1,2,3,four")));
    let err = data::load("userid", &root).unwrap_err().to_string();
    assert!(
        err.contains("9.csv.gz") && err.contains("line 3") && err.contains("four"),
        "{err}"
    );
    let root = synthetic_casale(tmp.path(), None);
    std::fs::remove_file(tmp.path().join("casale-har/12.csv.gz")).unwrap();
    let err = data::load("har", &root).unwrap_err().to_string();
    assert!(
        err.contains("12.csv.gz") && err.contains("missing"),
        "{err}"
    );
}

// ---------------------------------------------------------------- FSDD

#[test]
fn speech_sizes_split_and_train_only_standardisation() {
    let Some(ds) = speech("speech_sizes_split_and_train_only_standardisation") else {
        return;
    };
    assert_consistent(ds);
    assert_eq!(ds.shape, vec![fsdd::FRAMES, fsdd::N_MELS]);
    // 6 speakers x 10 digits x 50 recordings; index 0-4 test: 6 x 10 x 5 = 300.
    assert_eq!((ds.train_len(), ds.test_len()), (2700, 300));
    assert_eq!(ds.class_counts(Split::Train), vec![270; 10]);
    assert_eq!(ds.class_counts(Split::Test), vec![30; 10]);
    // Over real (non-padding) frames, train features have mean 0 and std 1.
    let real_frames = |x: &[f32]| -> Vec<Vec<f32>> {
        x.chunks(fsdd::N_MELS)
            .filter(|f| f.iter().any(|&v| v != 0.0))
            .map(|f| f.to_vec())
            .collect()
    };
    let stats = |frames: &[Vec<f32>]| {
        let n = frames.len() as f64;
        let mean: Vec<f64> = (0..fsdd::N_MELS)
            .map(|k| frames.iter().map(|f| f[k] as f64).sum::<f64>() / n)
            .collect();
        let std: Vec<f64> = (0..fsdd::N_MELS)
            .map(|k| {
                (frames
                    .iter()
                    .map(|f| (f[k] as f64 - mean[k]).powi(2))
                    .sum::<f64>()
                    / n)
                    .sqrt()
            })
            .collect();
        (mean, std)
    };
    let (m, s) = stats(&real_frames(&ds.train_x));
    assert!(m.iter().all(|v| v.abs() < 1e-3), "{m:?}");
    assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-3), "{s:?}");
    let (tm, _) = stats(&real_frames(&ds.test_x));
    assert!(
        tm.iter().any(|v| v.abs() > 1e-3),
        "test features are exactly standardised: {tm:?}"
    );
    // Padding is in front: the last frame of every example is real.
    for i in 0..ds.train_len() {
        let (x, _) = ds.example(Split::Train, i);
        assert!(
            x[x.len() - fsdd::N_MELS..].iter().any(|&v| v != 0.0),
            "example {i}"
        );
    }
}

/// A WAV file of `n` samples of a tone.
fn wav(n: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n)
        .flat_map(|i| (((i as f32 * 0.3).sin() * 8000.0) as i16).to_le_bytes())
        .collect();
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    for v in [
        16u32.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
    ] {
        b.extend_from_slice(&v);
    }
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

/// Writes a gzip'd tar of `(member, bytes)` to `path`.
fn write_tar_gz(path: &Path, members: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    std::fs::write(path, tar.into_inner().unwrap().finish().unwrap()).unwrap();
}

#[test]
fn fsdd_synthetic_truncated_and_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("fsdd/recordings.tar.gz");
    write_tar_gz(
        &archive,
        &[
            ("recordings/3_ann_0.wav", wav(3000)),
            ("recordings/3_ann_7.wav", wav(12000)),
        ],
    );
    let ds = data::load("speech", &DataRoot::new(tmp.path())).unwrap();
    assert_eq!((ds.train_len(), ds.test_len()), (1, 1));
    assert_eq!((ds.train_y[0], ds.test_y[0]), (3, 3));

    let mut cut = wav(3000);
    cut.truncate(1000);
    write_tar_gz(
        &archive,
        &[
            ("recordings/3_ann_0.wav", wav(3000)),
            ("recordings/5_bob_9.wav", cut),
        ],
    );
    let err = data::load("speech", &DataRoot::new(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("recordings.tar.gz")
            && err.contains("5_bob_9.wav")
            && err.contains("truncated"),
        "{err}"
    );

    // A truncated copy of a whole (synthetic) archive: a gzip error naming the file.
    write_tar_gz(
        &archive,
        &[
            ("recordings/3_ann_0.wav", wav(3000)),
            ("recordings/3_ann_7.wav", wav(12000)),
            ("recordings/5_bob_9.wav", wav(8000)),
        ],
    );
    let whole = std::fs::read(&archive).unwrap();
    assert_truncated_archive_is_a_gzip_error(&whole);
}

#[test]
fn fsdd_truncated_real_archive_is_a_gzip_error() {
    let test = "fsdd_truncated_real_archive_is_a_gzip_error";
    let Some(root) = probe::data_or_skip(test, "speech") else {
        return;
    };
    let real = std::fs::read(root.file(fsdd::ARCHIVE)).unwrap();
    assert_truncated_archive_is_a_gzip_error(&real);
}

/// The first third of `archive` as a data root's FSDD archive: a gzip error naming it.
fn assert_truncated_archive_is_a_gzip_error(archive: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(fsdd::ARCHIVE);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &archive[..archive.len() / 3]).unwrap();
    let err = data::load("speech", &DataRoot::new(tmp.path())).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert!(err.to_string().contains("recordings.tar.gz"), "{err}");
}

// ---------------------------------------------------------------- CIFAR-10

#[test]
fn cifar10_sizes_and_train_only_standardisation() {
    // Decodes all 60,000 JPEGs: about 2-4 s in the dev profile on 2 cores.
    let Some(ds) = cifar10("cifar10_sizes_and_train_only_standardisation") else {
        return;
    };
    assert_consistent(ds);
    assert_eq!(ds.shape, vec![3, 32, 32]);
    assert_eq!((ds.train_len(), ds.test_len()), (50_000, 10_000));
    assert_eq!(ds.class_counts(Split::Train), vec![5000; 10]);
    assert_eq!(ds.class_counts(Split::Test), vec![1000; 10]);
    assert_eq!(ds.classes[0], "airplane");
    let (m, s) = axis_stats(ds, Split::Train, 0);
    for c in 0..3 {
        assert!(
            m[c].abs() < 1e-3 && (s[c] - 1.0).abs() < 1e-3,
            "{m:?} {s:?}"
        );
    }
    let (tm, _) = axis_stats(ds, Split::Test, 0);
    assert!(tm.iter().any(|m| m.abs() > 1e-3), "{tm:?}");
    // The usual CIFAR-10 channel means, in 0..255 units (JPEG shifts them slightly).
    for (c, want) in [125.3f32, 123.0, 113.9].iter().enumerate() {
        assert!(
            (ds.input_norm.mean[c] - want).abs() < 2.0,
            "{:?}",
            ds.input_norm.mean
        );
    }
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let (x, _) = ds.example(Split::Train, 0);
    let a = cifar::augment(x, &mut rng);
    assert_eq!(a.len(), x.len());
}

#[test]
fn cifar_bad_jpeg_and_bad_member_name_the_file() {
    bad_jpeg_and_bad_member_name_the_file(JPEG_32X32.to_vec());
}

#[test]
fn cifar_bad_jpeg_and_bad_member_with_a_real_image() {
    let test = "cifar_bad_jpeg_and_bad_member_with_a_real_image";
    let Some(root) = probe::data_or_skip(test, "cifar10") else {
        return;
    };
    // One real JPEG from the test archive.
    bad_jpeg_and_bad_member_name_the_file(read_first_jpeg(&root.file("cifar10-jpeg/test.tar.gz")));
}

/// CIFAR-10 archives made of `real` (a valid 32x32 JPEG, which keeps the good members
/// valid), a truncated copy of it, garbage, and a member outside the classes.
fn bad_jpeg_and_bad_member_name_the_file(real: Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(cifar::decode_jpeg(&real).unwrap().len(), 3072);
    let train = tmp.path().join("cifar10-jpeg/train.tar.gz");
    let test = tmp.path().join("cifar10-jpeg/test.tar.gz");
    let mut broken = real.clone();
    broken.truncate(real.len() / 2);
    write_tar_gz(
        &train,
        &[
            ("train/cat/0000.jpg", real.clone()),
            ("train/cat/0001.jpg", broken),
        ],
    );
    write_tar_gz(&test, &[("test/dog/0000.jpg", real.clone())]);
    let err = data::load("cifar10", &DataRoot::new(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train.tar.gz") && err.contains("train/cat/0001.jpg"),
        "{err}"
    );

    write_tar_gz(
        &train,
        &[("train/cat/0000.jpg", b"\xff\xd8garbage".to_vec())],
    );
    let err = data::load("cifar10", &DataRoot::new(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad JPEG train/cat/0000.jpg"), "{err}");

    write_tar_gz(&train, &[("train/unicorn/0000.jpg", real.clone())]);
    let err = data::load("cifar10", &DataRoot::new(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train.tar.gz") && err.contains("unicorn"),
        "{err}"
    );

    write_tar_gz(&train, &[("train/cat/0000.jpg", real)]);
    let ds = data::load("cifar10", &DataRoot::new(tmp.path())).unwrap();
    assert_eq!((ds.train_y.clone(), ds.test_y.clone()), (vec![3], vec![5]));
}

fn read_first_jpeg(archive: &Path) -> Vec<u8> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    let mut tar = tar::Archive::new(gz);
    for entry in tar.entries().unwrap() {
        let mut e = entry.unwrap();
        if e.path().unwrap().to_string_lossy().ends_with(".jpg") {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut b).unwrap();
            return b;
        }
    }
    panic!("no jpg in {}", archive.display());
}

// ---------------------------------------------------------------- MNIST corruption

/// Copies the bundled subset into `dir/mnist/` (without SHA256SUMS unless asked).
fn mnist_copy(dir: &Path, with_sums: bool) -> PathBuf {
    let src = data::bundled_dir();
    let dst = dir.join("mnist");
    std::fs::create_dir_all(&dst).unwrap();
    for name in [
        mnist::TRAIN_IMAGES,
        mnist::TRAIN_LABELS,
        mnist::TEST_IMAGES,
        mnist::TEST_LABELS,
    ] {
        std::fs::copy(src.join(name), dst.join(name)).unwrap();
    }
    if with_sums {
        let sums = std::fs::read_to_string(src.join(data::SUMS_FILE)).unwrap();
        std::fs::write(dir.join(data::SUMS_FILE), sums.replace("./", "./mnist/")).unwrap();
    }
    dst
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn mnist_corrupt_inputs_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::new(tmp.path());
    let dir = mnist_copy(tmp.path(), true);
    assert_eq!(data::load("mnist", &root).unwrap().train_len(), 5000);

    // Truncated gzip.
    let f = dir.join(mnist::TRAIN_IMAGES);
    let full = std::fs::read(&f).unwrap();
    std::fs::write(&f, &full[..full.len() / 2]).unwrap();
    let err = data::load("mnist", &root).unwrap_err();
    assert!(matches!(err, DataError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains(mnist::TRAIN_IMAGES) && err.to_string().contains("sha256"));
    let err = data::load("mnist", &root.clone().with_verify(false)).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert!(err.to_string().contains(mnist::TRAIN_IMAGES), "{err}");
    std::fs::remove_file(tmp.path().join(data::SUMS_FILE)).unwrap();
    let err = data::load("mnist", &root).unwrap_err().to_string();
    assert!(
        err.contains("truncated gzip") && err.contains(mnist::TRAIN_IMAGES),
        "{err}"
    );

    // Not gzip at all.
    std::fs::write(&f, b"hello").unwrap();
    let err = data::load("mnist", &root).unwrap_err().to_string();
    assert!(
        err.contains("not a gzip file") && err.contains(mnist::TRAIN_IMAGES),
        "{err}"
    );
    std::fs::write(&f, &full).unwrap();

    // Bad magic: a labels file where images belong.
    let l = dir.join(mnist::TEST_LABELS);
    std::fs::copy(&l, &f).unwrap();
    let err = data::load("mnist", &root).unwrap_err().to_string();
    assert!(
        err.contains("bad IDX magic 0x00000801") && err.contains(mnist::TRAIN_IMAGES),
        "{err}"
    );
    std::fs::write(&f, &full).unwrap();

    // Wrong sizes: 999 test labels for 1000 test images.
    let mut labels = vec![0, 0, 8, 1, 0, 0, 3, 0xe7];
    labels.extend(std::iter::repeat_n(1u8, 999));
    std::fs::write(&l, gz(&labels)).unwrap();
    let err = data::load("mnist", &root).unwrap_err().to_string();
    assert!(
        err.contains(mnist::TEST_LABELS) && err.contains("999 labels for 1000 images"),
        "{err}"
    );
    // Dimensions that do not match the data.
    labels.truncate(500);
    std::fs::write(&l, gz(&labels)).unwrap();
    let err = data::load("mnist", &root).unwrap_err().to_string();
    assert!(
        err.contains(mnist::TEST_LABELS) && err.contains("need 999 bytes"),
        "{err}"
    );

    // Missing file.
    std::fs::remove_file(&l).unwrap();
    let err = data::load("mnist", &root).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    assert!(err.to_string().contains(mnist::TEST_LABELS), "{err}");
}

#[test]
fn shared_checksums_are_verified() {
    // A wrong SHA256SUMS entry for a real file is reported with both digests.
    let tmp = tempfile::tempdir().unwrap();
    mnist_copy(tmp.path(), false);
    let bad = format!("{}  ./mnist/{}\n", "0".repeat(64), mnist::TEST_LABELS);
    std::fs::write(tmp.path().join(data::SUMS_FILE), bad).unwrap();
    let err = data::load("mnist", &DataRoot::new(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(mnist::TEST_LABELS) && err.contains(&"0".repeat(64)),
        "{err}"
    );
    // A SHA256SUMS that is not one.
    std::fs::write(tmp.path().join(data::SUMS_FILE), "hello world\n").unwrap();
    let err = data::load("mnist", &DataRoot::new(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SHA256SUMS") && err.contains("line 1"),
        "{err}"
    );
}
