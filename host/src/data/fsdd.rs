//! The Free Spoken Digit Dataset from `fsdd/recordings.tar.gz` of a data root:
//! `recordings/{digit}_{speaker}_{index}.wav`, 8 kHz 16-bit mono PCM.
//!
//! # Features
//! Log-mel frames, computed here:
//! 1. samples scaled to [-1, 1), the clip's mean (DC) removed;
//! 2. frames of [`WIN_LEN`] = 200 samples (25 ms) every [`HOP_LEN`] = 80 samples (10 ms),
//!    a Hamming window, zero-padded to a [`N_FFT`] = 512-point real FFT, power spectrum;
//!    a clip shorter than one frame is zero-padded to one frame;
//! 3. [`N_MELS`] = 40 triangular mel filters (HTK mel scale) from [`F_MIN`] = 20 Hz to
//!    [`F_MAX`] = 4 kHz; `ln(max(energy, 1e-10))`;
//! 4. per-feature standardisation with the mean and std of all real (unpadded) frames
//!    of the training clips;
//! 5. a fixed length of [`FRAMES`] = 100 frames (about 1 s): longer clips keep their
//!    first 100 frames, shorter ones are padded *in front* with zeros (the training
//!    mean), so the real frames always end at the last step, where a recurrent model
//!    reads its final state.
//!
//! Shape `[FRAMES, N_MELS]` = `[100, 40]`, classes the digits "0".."9".
//!
//! # Split
//! The usual one: recordings with index 0-4 (of every digit and speaker) test, the rest
//! train: 2,700 / 300 of the 3,000 (6 speakers x 10 digits x 5).
use super::{gunzip, mean_std, untar, DataError, DataRoot, Dataset, Result, Standardization};
use rayon::prelude::*;
use realfft::RealFftPlanner;
use std::sync::Arc;

pub const SAMPLE_RATE: u32 = 8000;
/// Frame length in samples (25 ms).
pub const WIN_LEN: usize = 200;
/// Frame step in samples (10 ms).
pub const HOP_LEN: usize = 80;
/// FFT size.
pub const N_FFT: usize = 512;
/// Mel bands: the features per frame.
pub const N_MELS: usize = 40;
/// Frames per example: the time steps.
pub const FRAMES: usize = 100;
/// Lowest and highest mel filter edge in Hz.
pub const F_MIN: f32 = 20.0;
pub const F_MAX: f32 = 4000.0;
/// Recordings with an index up to this one are test.
pub const TEST_MAX_INDEX: u32 = 4;

/// The relative path of the archive.
pub const ARCHIVE: &str = "fsdd/recordings.tar.gz";

/// Reads a WAV file's samples, requiring 16-bit PCM, mono, 8 kHz.
pub fn parse_wav(bytes: &[u8]) -> std::result::Result<Vec<i16>, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut fmt_ok = false;
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let size = u32_at(i + 4) as usize;
        let body = i + 8;
        let available = bytes.len() - body;
        match id {
            b"fmt " => {
                if size < 16 || available < 16 {
                    return Err(format!(
                        "fmt chunk of {size} bytes is too short (truncated?)"
                    ));
                }
                let (format, channels, rate, bits) = (
                    u16_at(body),
                    u16_at(body + 2),
                    u32_at(body + 4),
                    u16_at(body + 14),
                );
                // WAVE_FORMAT_EXTENSIBLE carries the real format in its sub-format GUID.
                let format = if format == 0xfffe && size >= 26 && available >= 26 {
                    u16_at(body + 24)
                } else {
                    format
                };
                if format != 1 {
                    return Err(format!("format tag {format} is not PCM (1)"));
                }
                if channels != 1 {
                    return Err(format!("{channels} channels, expected mono"));
                }
                if bits != 16 {
                    return Err(format!("{bits}-bit samples, expected 16-bit"));
                }
                if rate != SAMPLE_RATE {
                    return Err(format!("{rate} Hz, expected {SAMPLE_RATE} Hz"));
                }
                fmt_ok = true;
            }
            b"data" => {
                if !fmt_ok {
                    return Err("data chunk before the fmt chunk".into());
                }
                if size > available {
                    return Err(format!(
                        "data chunk says {size} bytes, only {available} follow (truncated)"
                    ));
                }
                if size & 1 != 0 {
                    return Err(format!(
                        "data chunk of {size} bytes is not whole 16-bit samples"
                    ));
                }
                return Ok(bytes[body..body + size]
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect());
            }
            _ => {}
        }
        i = body.saturating_add(size).saturating_add(size & 1);
    }
    Err(if fmt_ok {
        "no data chunk (truncated?)"
    } else {
        "no fmt chunk (truncated?)"
    }
    .into())
}

/// Turns samples into log-mel frames (see the module docs, steps 1-3).
pub struct LogMel {
    fft: Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
    /// Per mel band: the first FFT bin and the weights from there on.
    filters: Vec<(usize, Vec<f32>)>,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let window = (0..WIN_LEN)
            .map(|n| {
                0.54 - 0.46 * (2.0 * std::f32::consts::PI * n as f32 / (WIN_LEN - 1) as f32).cos()
            })
            .collect();
        let mel = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
        let hz = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
        let (lo, hi) = (mel(F_MIN), mel(F_MAX));
        let edges: Vec<f32> = (0..N_MELS + 2)
            .map(|i| hz(lo + (hi - lo) * i as f32 / (N_MELS + 1) as f32))
            .collect();
        let bin_hz = SAMPLE_RATE as f32 / N_FFT as f32;
        let filters = (0..N_MELS)
            .map(|m| {
                let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
                let weight = |k: usize| {
                    let f = k as f32 * bin_hz;
                    let up = (f - left) / (centre - left);
                    let down = (right - f) / (right - centre);
                    up.min(down).max(0.0)
                };
                let first = (left / bin_hz).floor() as usize;
                let last = ((right / bin_hz).ceil() as usize).min(N_FFT / 2);
                (first, (first..=last).map(weight).collect())
            })
            .collect();
        LogMel {
            fft,
            window,
            filters,
        }
    }

    /// Frames of a clip: `n * N_MELS` values, `n = max(1, 1 + (len - WIN_LEN) / HOP_LEN)`
    /// capped at `max_frames`.
    pub fn frames(&self, samples: &[i16], max_frames: usize) -> Vec<f32> {
        let mean = samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len().max(1) as f64;
        let signal: Vec<f32> = samples
            .iter()
            .map(|&s| ((s as f64 - mean) / 32768.0) as f32)
            .collect();
        let n = if signal.len() <= WIN_LEN {
            1
        } else {
            1 + (signal.len() - WIN_LEN) / HOP_LEN
        };
        let n = n.min(max_frames);
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; spectrum.len()];
        let mut out = Vec::with_capacity(n * N_MELS);
        for f in 0..n {
            input.iter_mut().for_each(|v| *v = 0.0);
            let start = f * HOP_LEN;
            let end = (start + WIN_LEN).min(signal.len());
            for (k, &s) in signal[start..end].iter().enumerate() {
                input[k] = s * self.window[k];
            }
            // Lengths match the plan, so this cannot fail.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                unreachable!("buffers come from the plan");
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (first, weights) in &self.filters {
                let e: f32 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                out.push(e.max(1e-10).ln());
            }
        }
        out
    }
}

/// One recording's name parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClipName {
    pub digit: u32,
    pub speaker: String,
    pub index: u32,
}

/// Parses `{digit}_{speaker}_{index}.wav` (the member's file name).
pub fn parse_name(file_name: &str) -> Option<ClipName> {
    let stem = file_name.strip_suffix(".wav")?;
    let (digit, rest) = stem.split_once('_')?;
    let (speaker, index) = rest.rsplit_once('_')?;
    let digit: u32 = digit.parse().ok().filter(|d| *d <= 9)?;
    let index: u32 = index.parse().ok()?;
    (!speaker.is_empty()).then(|| ClipName {
        digit,
        speaker: speaker.to_string(),
        index,
    })
}

/// Reads every recording of the archive: its name parts and samples, sorted by name.
pub fn read_clips(root: &DataRoot) -> Result<Vec<(ClipName, Vec<i16>)>> {
    let path = root.file(ARCHIVE);
    let tar = gunzip(&path, &root.read(ARCHIVE)?)?;
    let members = untar(&path, &tar)?;
    let mut clips = members
        .into_par_iter()
        .filter(|(member, _)| member.ends_with(".wav"))
        .map(|(member, bytes)| {
            let file = member.rsplit('/').next().unwrap_or(&member);
            let name = parse_name(file).ok_or_else(|| DataError::Wav {
                path: path.clone(),
                member: member.clone(),
                what: "name is not {digit}_{speaker}_{index}.wav".into(),
            })?;
            let samples = parse_wav(&bytes).map_err(|what| DataError::Wav {
                path: path.clone(),
                member,
                what,
            })?;
            Ok((name, samples))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<Vec<_>>>()?; // the first error in archive order

    if clips.is_empty() {
        return Err(DataError::Format {
            path,
            what: "no recordings/*.wav in the archive".into(),
        });
    }
    clips.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(clips)
}

/// Builds the data set from clips (see the module docs).
pub fn build(clips: &[(ClipName, Vec<i16>)]) -> Dataset {
    let mel = LogMel::new();
    let feats: Vec<Vec<f32>> = clips
        .par_iter()
        .map(|(_, s)| mel.frames(s, FRAMES))
        .collect();
    let is_test = |c: &ClipName| c.index <= TEST_MAX_INDEX;
    let (mut sum, mut sq, mut count) = (vec![0f64; N_MELS], vec![0f64; N_MELS], 0f64);
    for ((name, _), f) in clips.iter().zip(&feats) {
        if is_test(name) {
            continue;
        }
        for frame in f.chunks_exact(N_MELS) {
            for (k, &v) in frame.iter().enumerate() {
                sum[k] += v as f64;
                sq[k] += (v as f64).powi(2);
            }
            count += 1.0;
        }
    }
    let (mean, std) = mean_std(&sum, &sq, count);
    let (mut train_x, mut train_y, mut test_x, mut test_y) = (vec![], vec![], vec![], vec![]);
    for ((name, _), f) in clips.iter().zip(&feats) {
        let (x, y) = if is_test(name) {
            (&mut test_x, &mut test_y)
        } else {
            (&mut train_x, &mut train_y)
        };
        let real = f.len() / N_MELS;
        x.extend(std::iter::repeat_n(0.0, (FRAMES - real) * N_MELS));
        x.extend(
            f.iter()
                .enumerate()
                .map(|(i, &v)| (v - mean[i % N_MELS]) / std[i % N_MELS]),
        );
        y.push(name.digit);
    }
    Dataset {
        name: "speech".into(),
        shape: vec![FRAMES, N_MELS],
        classes: (0..10).map(|d| d.to_string()).collect(),
        train_x,
        train_y,
        test_x,
        test_y,
        input_norm: Standardization { axis: 1, mean, std },
    }
}

/// Loads FSDD from `root/fsdd/recordings.tar.gz`.
pub fn load(root: &DataRoot) -> Result<Dataset> {
    Ok(build(&read_clips(root)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(samples: &[i16], rate: u32, channels: u16, bits: u16) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * 2).to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&data);
        b
    }

    #[test]
    fn wav_roundtrip_and_rejections() {
        assert_eq!(
            parse_wav(&wav(&[1, -2, 3], 8000, 1, 16)).unwrap(),
            vec![1, -2, 3]
        );
        assert!(parse_wav(&wav(&[1], 16000, 1, 16))
            .unwrap_err()
            .contains("16000 Hz"));
        assert!(parse_wav(&wav(&[1, 2], 8000, 2, 16))
            .unwrap_err()
            .contains("2 channels"));
        assert!(parse_wav(&wav(&[1], 8000, 1, 8))
            .unwrap_err()
            .contains("8-bit"));
        let full = wav(&[1, 2, 3, 4], 8000, 1, 16);
        assert!(parse_wav(&full[..full.len() - 3])
            .unwrap_err()
            .contains("truncated"));
        assert!(parse_wav(&full[..30]).unwrap_err().contains("truncated"));
        assert!(parse_wav(b"RIFX....WAVE").unwrap_err().contains("RIFF"));
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            parse_name("7_george_12.wav"),
            Some(ClipName {
                digit: 7,
                speaker: "george".into(),
                index: 12
            })
        );
        assert_eq!(parse_name("x_george_1.wav"), None);
        assert_eq!(parse_name("7_george.wav"), None);
    }

    #[test]
    fn frame_counts_and_a_tone_peaks_in_the_right_band() {
        let mel = LogMel::new();
        assert_eq!(mel.frames(&[0; 100], FRAMES).len(), N_MELS);
        assert_eq!(mel.frames(&[0; 8000], FRAMES).len(), 98 * N_MELS);
        assert_eq!(mel.frames(&[0; 20000], FRAMES).len(), FRAMES * N_MELS);
        // A 1 kHz tone: the loudest band is the one whose centre is nearest 1 kHz.
        let tone: Vec<i16> = (0..1000)
            .map(|n| {
                (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * n as f32 / 8000.0).sin()) as i16
            })
            .collect();
        let f = mel.frames(&tone, FRAMES);
        let frame = &f[..N_MELS];
        let best = (0..N_MELS)
            .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
            .unwrap();
        let m = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
        let centre_mel = m(F_MIN) + (m(F_MAX) - m(F_MIN)) * (best + 1) as f32 / (N_MELS + 1) as f32;
        let centre = 700.0 * (10f32.powf(centre_mel / 2595.0) - 1.0);
        assert!(
            (centre - 1000.0).abs() < 80.0,
            "band {best} centred at {centre} Hz"
        );
    }
}
