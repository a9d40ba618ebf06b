//! "Activity Recognition from Single Chest-Mounted Accelerometer" (Casale, Pujol, Radeva
//! 2012) from `casale-har/` of a data root: one `N.csv.gz` per participant (N = 1..15),
//! rows `seq,x,y,z,label` at 52 Hz, no header, and `desc.txt` naming the 7 activities.
//!
//! # Windows
//! A *run* is a stretch of consecutive rows of one participant with the same non-zero
//! label. Rows labelled 0 (unlabelled) are dropped, and they end a run: the rows on
//! either side of them are not treated as continuous. Each run is cut into windows of
//! [`WINDOW`] = 104 samples (2 s) every [`HOP`] = 52 samples (50 % overlap); a tail
//! shorter than a window is dropped.
//!
//! Each window becomes one example of shape `[AXES, INTERVALS, INTERVAL_LEN]` =
//! `[3, 8, 13]`: for each axis (x, y, z) the 104 samples in time order, cut into
//! [`INTERVALS`] = 8 consecutive intervals of [`INTERVAL_LEN`] = 13 samples (1/4 s), the
//! layout a DeepSense-style model wants (a convolution inside each interval, a
//! recurrent layer across the intervals). Those three constants are the one place the
//! window geometry is set.
//!
//! # Splits
//! * [`Task::Har`] (`har`): 7 activities, labels 1..=7 become classes 0..=6, named from
//!   `desc.txt`. Split in time inside every run of every participant: the first
//!   ⌊0.7 k⌋ of a run's k windows train; windows that share samples with the last
//!   training window are dropped (with 50 % overlap, exactly one); the rest test. So no
//!   test window shares a sample with a training window.
//! * [`Task::UserId`] (`userid`): which of the 15 participants is walking, from walking
//!   (label 4) windows only, split in time as `har`.
//! * [`Task::HarCrossParticipant`] (`har_cross_participant`): 7 activities, all windows of
//!   participants 1-10 train, all windows of 11-15 test.
//!
//! Inputs are standardised per axis: `x = (raw - mean[a]) / std[a]` with the mean and
//! population std of the ADC counts over the training windows only.
use super::{gunzip, mean_std, DataError, DataRoot, Dataset, Result, Split, Standardization};
use rayon::prelude::*;
use std::path::Path;

/// Sampling rate of the accelerometer.
pub const SAMPLE_RATE_HZ: usize = 52;
/// Accelerometer axes (x, y, z): the first dimension of an example.
pub const AXES: usize = 3;
/// Intervals per window (`T`): the second dimension of an example.
pub const INTERVALS: usize = 8;
/// Samples per interval (`L`): the third dimension of an example.
pub const INTERVAL_LEN: usize = 13;
/// Samples per window: 104 = 2 s at 52 Hz.
pub const WINDOW: usize = INTERVALS * INTERVAL_LEN;
/// Step between window starts: 50 % overlap.
pub const HOP: usize = WINDOW / 2;
/// Fraction of each run's windows (first in time) that train: `TRAIN_NUM / TRAIN_DEN`.
pub const TRAIN_NUM: usize = 7;
pub const TRAIN_DEN: usize = 10;
/// Participants, numbered 1..=15.
pub const PARTICIPANTS: u32 = 15;
/// Participants 1..=this train in [`Task::HarCrossParticipant`]; the rest test.
pub const CROSS_LAST_TRAIN_PARTICIPANT: u32 = 10;
/// The activity label of walking (used by [`Task::UserId`]).
pub const WALKING: u8 = 4;
/// Activities (labels 1..=7).
pub const ACTIVITIES: usize = 7;

const _: () = assert!(WINDOW == 104 && HOP * 2 == WINDOW);

/// Which task to build from the recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// 7 activities, split in time within each run.
    Har,
    /// 7 activities, participants 1-10 train, 11-15 test.
    HarCrossParticipant,
    /// 15 participants from walking windows, split in time within each run.
    UserId,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Har => "har",
            Task::HarCrossParticipant => "har_cross_participant",
            Task::UserId => "userid",
        }
    }
}

/// One participant's recording with its label-0 rows still in place (they end runs).
#[derive(Debug, Clone)]
pub struct Recording {
    /// 1..=15.
    pub participant: u32,
    /// Raw ADC counts per row.
    pub xyz: Vec<[f32; 3]>,
    /// Label per row, 0..=7.
    pub labels: Vec<u8>,
}

/// A stretch of rows `[start, start + len)` with the same non-zero label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub label: u8,
    pub start: usize,
    pub len: usize,
}

/// One window: rows `[start, start + WINDOW)` of a participant's recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub participant: u32,
    /// Index of the run within the participant's runs.
    pub run: usize,
    /// The activity label, 1..=7.
    pub label: u8,
    /// First row (index into [`Recording::xyz`]).
    pub start: usize,
    pub split: Split,
}

/// The relative path of a participant's file.
pub fn file_name(participant: u32) -> String {
    format!("casale-har/{participant}.csv.gz")
}

/// Parses one participant's CSV (`seq,x,y,z,label`, no header). `seq` is parsed as a
/// float (it is written like `1e+05` past 99,999) and otherwise ignored.
pub fn parse_csv(path: &Path, text: &[u8]) -> Result<(Vec<[f32; 3]>, Vec<u8>)> {
    let bad = |line: usize, what: String| DataError::Csv {
        path: path.to_path_buf(),
        line,
        what,
    };
    let text = std::str::from_utf8(text).map_err(|e| {
        let line = text[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        bad(line, "not UTF-8 text".into())
    })?;
    let mut xyz = Vec::with_capacity(text.len() / 24);
    let mut labels = Vec::with_capacity(text.len() / 24);
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(',');
        let mut next = |name: &str| {
            fields.next().map(str::trim).ok_or_else(|| {
                bad(
                    i + 1,
                    format!("expected 5 fields seq,x,y,z,label, no {name}"),
                )
            })
        };
        let seq = next("seq")?;
        let (x, y, z) = (next("x")?, next("y")?, next("z")?);
        let label = next("label")?;
        if fields.next().is_some() {
            return Err(bad(i + 1, "more than 5 fields (seq,x,y,z,label)".into()));
        }
        match seq.parse::<f64>() {
            Ok(v) if v.is_finite() => {}
            _ => return Err(bad(i + 1, format!("seq `{seq}` is not a number"))),
        }
        let axis = |name: &str, v: &str| match v.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(bad(i + 1, format!("{name} `{v}` is not a number"))),
        };
        let row = [axis("x", x)?, axis("y", y)?, axis("z", z)?];
        let label = match label.parse::<u8>() {
            Ok(l) if l as usize <= ACTIVITIES => l,
            _ => return Err(bad(i + 1, format!("label `{label}` is not 0-{ACTIVITIES}"))),
        };
        xyz.push(row);
        labels.push(label);
    }
    Ok((xyz, labels))
}

/// Reads and parses all 15 participants' files (in parallel), in participant order.
pub fn read_recordings(root: &DataRoot) -> Result<Vec<Recording>> {
    (1..=PARTICIPANTS)
        .into_par_iter()
        .map(|participant| {
            let rel = file_name(participant);
            let path = root.file(&rel);
            let text = gunzip(&path, &root.read(&rel)?)?;
            let (xyz, labels) = parse_csv(&path, &text)?;
            if xyz.is_empty() {
                return Err(DataError::Format {
                    path,
                    what: "no rows".into(),
                });
            }
            Ok(Recording {
                participant,
                xyz,
                labels,
            })
        })
        .collect()
}

/// Reads the 7 activity names from `casale-har/desc.txt` (lines like `--- 4: Walking`).
pub fn read_class_names(root: &DataRoot) -> Result<Vec<String>> {
    let rel = "casale-har/desc.txt";
    let path = root.file(rel);
    let bytes = root.read(rel)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut names: Vec<Option<String>> = vec![None; ACTIVITIES];
    for line in text.lines() {
        let line = line.trim().trim_start_matches('-').trim();
        if let Some((num, name)) = line.split_once(':') {
            if let Ok(n) = num.trim().parse::<usize>() {
                if (1..=ACTIVITIES).contains(&n) && !name.trim().is_empty() {
                    names[n - 1] = Some(name.trim().to_string());
                }
            }
        }
    }
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            n.ok_or_else(|| DataError::Format {
                path: path.clone(),
                what: format!(
                    "no name for activity {} (expected a line like `--- 4: Walking`)",
                    i + 1
                ),
            })
        })
        .collect()
}

/// The runs of a label sequence: maximal stretches of one non-zero label.
pub fn runs(labels: &[u8]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=labels.len() {
        if i == labels.len() || labels[i] != labels[start] {
            if labels[start] != 0 {
                out.push(Run {
                    label: labels[start],
                    start,
                    len: i - start,
                });
            }
            start = i;
        }
    }
    out
}

/// Window starts (relative to the run) of a run of `len` samples, split in time: the
/// first ⌊0.7 k⌋ of the k windows train, windows overlapping the last training window
/// are dropped, the rest test.
pub fn split_run(len: usize) -> (Vec<usize>, Vec<usize>) {
    if len < WINDOW {
        return (Vec::new(), Vec::new());
    }
    let k = (len - WINDOW) / HOP + 1;
    let n_train = k * TRAIN_NUM / TRAIN_DEN;
    let train: Vec<usize> = (0..n_train).map(|j| j * HOP).collect();
    let first_free = train.last().map_or(0, |&s| s + WINDOW);
    let test = (n_train..k)
        .map(|j| j * HOP)
        .filter(|&s| s >= first_free)
        .collect();
    (train, test)
}

/// All windows of a task, in participant, run and time order.
pub fn windows(recordings: &[Recording], task: Task) -> Vec<Window> {
    let mut out = Vec::new();
    for rec in recordings {
        for (r, run) in runs(&rec.labels).into_iter().enumerate() {
            if task == Task::UserId && run.label != WALKING {
                continue;
            }
            let (train, test) = match task {
                Task::Har | Task::UserId => split_run(run.len),
                Task::HarCrossParticipant => {
                    let all: Vec<usize> = if run.len < WINDOW {
                        Vec::new()
                    } else {
                        (0..=(run.len - WINDOW) / HOP).map(|j| j * HOP).collect()
                    };
                    if rec.participant <= CROSS_LAST_TRAIN_PARTICIPANT {
                        (all, Vec::new())
                    } else {
                        (Vec::new(), all)
                    }
                }
            };
            for (starts, split) in [(train, Split::Train), (test, Split::Test)] {
                out.extend(starts.into_iter().map(|s| Window {
                    participant: rec.participant,
                    run: r,
                    label: run.label,
                    start: run.start + s,
                    split,
                }));
            }
        }
    }
    out
}

/// Builds a task's data set from parsed recordings and activity names.
pub fn build(recordings: &[Recording], activity_names: &[String], task: Task) -> Dataset {
    let wins = windows(recordings, task);
    let by_participant = |p: u32| {
        &recordings[recordings
            .iter()
            .position(|r| r.participant == p)
            .unwrap_or(0)]
    };
    // Per-axis statistics over the training windows only.
    let (mut sum, mut sq, mut count) = ([0f64; AXES], [0f64; AXES], 0f64);
    for w in wins.iter().filter(|w| w.split == Split::Train) {
        for row in &by_participant(w.participant).xyz[w.start..w.start + WINDOW] {
            for a in 0..AXES {
                sum[a] += row[a] as f64;
                sq[a] += (row[a] as f64).powi(2);
            }
        }
        count += WINDOW as f64;
    }
    let (mean, std) = mean_std(&sum, &sq, count);
    let class_of = |w: &Window| match task {
        Task::UserId => w.participant - 1,
        _ => w.label as u32 - 1,
    };
    let split_xy = |split: Split| {
        let chosen: Vec<&Window> = wins.iter().filter(|w| w.split == split).collect();
        let mut x = vec![0f32; chosen.len() * AXES * WINDOW];
        x.par_chunks_mut(AXES * WINDOW)
            .zip(&chosen)
            .for_each(|(ex, w)| {
                let rows = &by_participant(w.participant).xyz[w.start..w.start + WINDOW];
                for (s, row) in rows.iter().enumerate() {
                    for a in 0..AXES {
                        ex[a * WINDOW + s] = (row[a] - mean[a]) / std[a];
                    }
                }
            });
        (x, chosen.iter().map(|w| class_of(w)).collect::<Vec<u32>>())
    };
    let (train_x, train_y) = split_xy(Split::Train);
    let (test_x, test_y) = split_xy(Split::Test);
    let classes = match task {
        Task::UserId => (1..=PARTICIPANTS)
            .map(|p| format!("participant {p}"))
            .collect(),
        _ => activity_names.to_vec(),
    };
    Dataset {
        name: task.name().to_string(),
        shape: vec![AXES, INTERVALS, INTERVAL_LEN],
        classes,
        train_x,
        train_y,
        test_x,
        test_y,
        input_norm: Standardization { axis: 0, mean, std },
    }
}

/// Loads a Casale task from `root/casale-har/`.
pub fn load(root: &DataRoot, task: Task) -> Result<Dataset> {
    let names = read_class_names(root)?;
    let recordings = read_recordings(root)?;
    Ok(build(&recordings, &names, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_break_at_label_zero() {
        let l = [1, 1, 0, 1, 2, 2, 0, 0];
        assert_eq!(
            runs(&l),
            vec![
                Run {
                    label: 1,
                    start: 0,
                    len: 2
                },
                Run {
                    label: 1,
                    start: 3,
                    len: 1
                },
                Run {
                    label: 2,
                    start: 4,
                    len: 2
                }
            ]
        );
    }

    #[test]
    fn split_run_drops_the_straddling_window() {
        // 10 windows: 7 train (starts 0..=312, last ends at 416), window 7 (start 364)
        // overlaps it and is dropped, windows 8 and 9 test.
        let len = WINDOW + 9 * HOP;
        let (train, test) = split_run(len);
        assert_eq!(train.len(), 7);
        assert_eq!(test, vec![8 * HOP, 9 * HOP]);
        assert!(test[0] >= train[6] + WINDOW);
        assert_eq!(split_run(WINDOW - 1), (vec![], vec![]));
        assert_eq!(split_run(WINDOW), (vec![], vec![0]));
    }

    #[test]
    fn csv_accepts_exponent_seq_and_rejects_bad_lines() {
        let p = Path::new("3.csv.gz");
        let (xyz, l) = parse_csv(p, b"0,1,2,3,1\n1e+05,4,5,6,0\r\n\n").unwrap();
        assert_eq!(xyz, vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(l, vec![1, 0]);
        let e = parse_csv(p, b"0,1,2,3,1\n1,2,x,4,1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("3.csv.gz") && e.contains("line 2") && e.contains("`x`"),
            "{e}"
        );
        let e = parse_csv(p, b"0,1,2,3,9\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("label"), "{e}");
        let e = parse_csv(p, b"0,1,2,3\n").unwrap_err().to_string();
        assert!(e.contains("no label"), "{e}");
    }
}
