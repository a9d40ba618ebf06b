//! Training-time augmentations: seeded per-example transforms of a training batch that
//! model what the sensor or camera varies (gain, drift, position, crop), and the names
//! `--augment` and the compressor's `augment` setting resolve to. None of them changes the
//! exported graph.
use crate::rng::Rng;
use anyhow::{bail, Result};

/// A training augmentation: one example in, its augmented copy out.
pub type Augment = fn(&[f32], &mut [f32], &mut Rng);

/// Accelerometer windows `[3, T, L]`: each axis scaled by a gain in [0.9, 1.1] (sensor
/// placement and calibration vary), plus uniform jitter of ±0.05 standard deviations.
fn jitter_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    let per = x.len() / 3;
    for (src, dst) in x.chunks(per.max(1)).zip(out.chunks_mut(per.max(1))) {
        let gain = rng.uniform(0.9, 1.1);
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s * gain + rng.uniform(-0.05, 0.05);
        }
    }
}

/// [`jitter_augment`] plus what a sensor that shifts on the body does over a session: a
/// per-axis gain in [0.8, 1.2] and a per-axis offset of up to ±0.3 standard deviations
/// (a change of orientation moves gravity between the axes).
fn drift_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    let per = x.len() / 3;
    for (src, dst) in x.chunks(per.max(1)).zip(out.chunks_mut(per.max(1))) {
        let gain = rng.uniform(0.8, 1.2);
        let offset = rng.uniform(-0.3, 0.3);
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s * gain + offset + rng.uniform(-0.05, 0.05);
        }
    }
}

/// Images `[C, 28, 28]` on a zero background, shifted by up to 1 pixel in each direction
/// (zeros fill in): handwriting is not centred to the pixel, and a network cut down to a
/// few thousand weights otherwise learns the training digits' exact positions. (Up to 2
/// pixels was worse for a 2 %-kept LeNet-5: held-out 98.76 % against 98.88 %.)
fn shift_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    const SIDE: usize = 28;
    let plane = SIDE * SIDE;
    let dy = (rng.next_u64() % 3) as isize - 1;
    let dx = (rng.next_u64() % 3) as isize - 1;
    for (src, dst) in x.chunks(plane).zip(out.chunks_mut(plane)) {
        for y in 0..SIDE as isize {
            for xx in 0..SIDE as isize {
                let (sy, sx) = (y + dy, xx + dx);
                let inside = (0..SIDE as isize).contains(&sy) && (0..SIDE as isize).contains(&sx);
                dst[(y * SIDE as isize + xx) as usize] = if inside {
                    src[(sy * SIDE as isize + sx) as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// The augmentation `--augment` names for a model trained on the data task `data`.
pub fn augmentation(data: &str, which: &str) -> Result<Option<Augment>> {
    augment_named(augment_name(data, which)?)
}

/// The concrete augmentation `--augment which` means for a model trained on `data`
/// (`default` resolved):
/// `none`, `jitter`, `drift`, `shift` or `crop-flip`.
pub fn augment_name(data: &str, which: &str) -> Result<&'static str> {
    Ok(match which {
        "none" => "none",
        "jitter" => "jitter",
        "drift" => "drift",
        "shift" if data == "mnist" => "shift",
        "shift" => bail!("--augment shift is for the 28x28 MNIST images"),
        "default" => match data {
            "cifar10" => "crop-flip",
            "har" | "har_cross_participant" | "userid" => "drift",
            _ => "none",
        },
        other => bail!("--augment takes default, none, jitter, drift or shift, got `{other}`"),
    })
}

/// The augmentation function of a concrete name from [`augment_name`].
pub fn augment_named(name: &str) -> Result<Option<Augment>> {
    Ok(match name {
        "none" => None,
        "jitter" => Some(jitter_augment as Augment),
        "drift" => Some(drift_augment as Augment),
        "shift" => Some(shift_augment as Augment),
        "crop-flip" => Some(cifar_augment as Augment),
        other => bail!("unknown augmentation `{other}`"),
    })
}

fn cifar_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    super::cifar::augment_into(x, out, rng)
}
