//! CIFAR-10 re-encoded as JPEG, from `cifar10-jpeg/{train,test}.tar.gz` of a data root:
//! members `{train,test}/{class}/NNNN.jpg`, 32x32 RGB.
//!
//! Images are decoded with zune-jpeg (pure Rust) on all cores, laid out channel-major
//! (`[3, 32, 32]`, RGB) and standardised per channel with the mean and std of the
//! training pixels: `x = (raw - mean[c]) / std[c]`, raw in 0..=255. Examples are in
//! class order, then file order; shuffle for training. [`augment`] gives the standard
//! training augmentation.
use super::{
    gunzip, mean_std, untar, DataError, DataRoot, Dataset, Result, Split, Standardization,
};
use rand::Rng;
use rayon::prelude::*;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// The classes, in label order.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
pub const CHANNELS: usize = 3;
pub const SIDE: usize = 32;
/// Zero padding on each side before the random crop in [`augment`].
pub const PAD: usize = 4;
/// Values per example.
pub const EXAMPLE_LEN: usize = CHANNELS * SIDE * SIDE;

/// The relative path of a split's archive.
pub fn archive(split: Split) -> &'static str {
    match split {
        Split::Train => "cifar10-jpeg/train.tar.gz",
        Split::Test => "cifar10-jpeg/test.tar.gz",
    }
}

/// Decodes a 32x32 JPEG to interleaved RGB bytes (grayscale is expanded to RGB).
pub fn decode_jpeg(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_strict_mode(true)
        .set_max_width(4096)
        .set_max_height(4096);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let (w, h) = decoder.dimensions().unwrap_or((0, 0));
    if (w, h) != (SIDE, SIDE) {
        return Err(format!("image is {w}x{h}, expected {SIDE}x{SIDE}"));
    }
    if pixels.len() != EXAMPLE_LEN {
        return Err(format!(
            "decoded {} bytes, expected {EXAMPLE_LEN} (RGB)",
            pixels.len()
        ));
    }
    Ok(pixels)
}

/// Reads one split: raw pixels channel-major (`EXAMPLE_LEN` bytes per image) and labels,
/// in class order, then member name order.
pub fn read_split(root: &DataRoot, split: Split) -> Result<(Vec<u8>, Vec<u32>)> {
    let rel = archive(split);
    let path = root.file(rel);
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    let tar = gunzip(&path, &root.read(rel)?)?;
    let mut members: Vec<(u32, String, Vec<u8>)> = untar(&path, &tar)?
        .into_iter()
        .filter(|(name, _)| name.ends_with(".jpg") || name.ends_with(".jpeg"))
        .map(|(name, bytes)| {
            let parts: Vec<&str> = name.trim_start_matches("./").split('/').collect();
            let class = match parts.as_slice() {
                [p, class, _file] if *p == prefix => CLASSES.iter().position(|c| c == class),
                _ => None,
            };
            match class {
                Some(c) => Ok((c as u32, name, bytes)),
                None => Err(DataError::Format {
                    path: path.clone(),
                    what: format!(
                        "member {name} is not {prefix}/{{class}}/NNNN.jpg with a CIFAR-10 class"
                    ),
                }),
            }
        })
        .collect::<Result<_>>()?;
    drop(tar);
    if members.is_empty() {
        return Err(DataError::Format {
            path,
            what: format!("no {prefix}/{{class}}/*.jpg members in the archive"),
        });
    }
    members.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut pixels = vec![0u8; members.len() * EXAMPLE_LEN];
    pixels
        .par_chunks_mut(EXAMPLE_LEN)
        .zip(&members)
        .map(|(out, (_, name, bytes))| {
            let rgb = decode_jpeg(bytes).map_err(|what| DataError::Jpeg {
                path: path.clone(),
                member: name.clone(),
                what,
            })?;
            for (i, px) in rgb.chunks_exact(CHANNELS).enumerate() {
                for c in 0..CHANNELS {
                    out[c * SIDE * SIDE + i] = px[c];
                }
            }
            Ok::<_, DataError>(())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<()>>()?; // the first bad member in order, not the first seen

    Ok((pixels, members.iter().map(|m| m.0).collect()))
}

/// Loads CIFAR-10 from `root/cifar10-jpeg/`.
pub fn load(root: &DataRoot) -> Result<Dataset> {
    let (train, test) = rayon::join(
        || read_split(root, Split::Train),
        || read_split(root, Split::Test),
    );
    let ((train_px, train_y), (test_px, test_y)) = (train?, test?);
    // Exact integer sums per channel (u64 cannot overflow: 255^2 * 51M < 2^64).
    let (sum, sq) = train_px
        .par_chunks(SIDE * SIDE)
        .enumerate()
        .map(|(i, plane)| {
            let (mut s, mut q) = ([0u64; CHANNELS], [0u64; CHANNELS]);
            let c = i % CHANNELS;
            for &p in plane {
                s[c] += p as u64;
                q[c] += p as u64 * p as u64;
            }
            (s, q)
        })
        .reduce(
            || ([0u64; CHANNELS], [0u64; CHANNELS]),
            |(mut s, mut q), (s2, q2)| {
                for c in 0..CHANNELS {
                    s[c] += s2[c];
                    q[c] += q2[c];
                }
                (s, q)
            },
        );
    let sum: Vec<f64> = sum.iter().map(|&v| v as f64).collect();
    let sq: Vec<f64> = sq.iter().map(|&v| v as f64).collect();
    let count = (train_y.len() * SIDE * SIDE) as f64;
    let (mean, std) = mean_std(&sum, &sq, count);
    let normalise = |px: &[u8]| -> Vec<f32> {
        let mut x = vec![0f32; px.len()];
        x.par_chunks_mut(SIDE * SIDE)
            .zip(px.par_chunks(SIDE * SIDE))
            .enumerate()
            .for_each(|(i, (out, plane))| {
                let c = i % CHANNELS;
                for (o, &p) in out.iter_mut().zip(plane) {
                    *o = (p as f32 - mean[c]) / std[c];
                }
            });
        x
    };
    let train_x = normalise(&train_px);
    drop(train_px);
    let test_x = normalise(&test_px);
    Ok(Dataset {
        name: "cifar10".into(),
        shape: vec![CHANNELS, SIDE, SIDE],
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        train_x,
        train_y,
        test_x,
        test_y,
        input_norm: Standardization { axis: 0, mean, std },
    })
}

/// The standard CIFAR training augmentation of one normalised `[3, 32, 32]` example: a
/// random 32x32 crop of the image padded by [`PAD`] = 4 zeros on every side (zero is the
/// training mean after standardisation), then a horizontal flip with probability 1/2.
pub fn augment<R: Rng + ?Sized>(example: &[f32], rng: &mut R) -> Vec<f32> {
    let mut out = vec![0f32; EXAMPLE_LEN];
    augment_into(example, &mut out, rng);
    out
}

/// [`augment`] into a caller's buffer (no allocation). Panics when either slice is not
/// `EXAMPLE_LEN` long.
pub fn augment_into<R: Rng + ?Sized>(example: &[f32], out: &mut [f32], rng: &mut R) {
    assert_eq!(
        example.len(),
        EXAMPLE_LEN,
        "augment takes one [3, 32, 32] example"
    );
    assert_eq!(
        out.len(),
        EXAMPLE_LEN,
        "augment writes one [3, 32, 32] example"
    );
    let dy = rng.random_range(0..=2 * PAD) as isize - PAD as isize;
    let dx = rng.random_range(0..=2 * PAD) as isize - PAD as isize;
    let flip = rng.random_bool(0.5);
    let side = SIDE as isize;
    for c in 0..CHANNELS {
        let src = &example[c * SIDE * SIDE..(c + 1) * SIDE * SIDE];
        let dst = &mut out[c * SIDE * SIDE..(c + 1) * SIDE * SIDE];
        for y in 0..side {
            let sy = y + dy;
            for x in 0..side {
                let sx = if flip { side - 1 - x } else { x } + dx;
                dst[(y * side + x) as usize] = if (0..side).contains(&sy) && (0..side).contains(&sx)
                {
                    src[(sy * side + sx) as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn augment_crops_within_padding_and_flips() {
        let ex: Vec<f32> = (0..EXAMPLE_LEN).map(|i| 1.0 + i as f32).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut seen_flip = false;
        for _ in 0..200 {
            let a = augment(&ex, &mut rng);
            // Every non-zero value is a pixel of the same channel, and rows stay rows.
            for c in 0..CHANNELS {
                for v in &a[c * SIDE * SIDE..(c + 1) * SIDE * SIDE] {
                    if *v != 0.0 {
                        let src = (*v - 1.0) as usize;
                        assert_eq!(src / (SIDE * SIDE), c);
                    }
                }
            }
            // At least (32-4)^2 pixels per channel survive any crop.
            let kept = a[..SIDE * SIDE].iter().filter(|v| **v != 0.0).count();
            assert!(kept >= (SIDE - PAD) * (SIDE - PAD), "{kept}");
            // A row's values run down (flipped) or up.
            let row: Vec<f32> = a[16 * SIDE..17 * SIDE]
                .iter()
                .copied()
                .filter(|v| *v != 0.0)
                .collect();
            if row.len() > 1 && row[0] > row[1] {
                seen_flip = true;
            }
        }
        assert!(seen_flip);
    }

    #[test]
    fn bad_jpeg_is_an_error() {
        assert!(decode_jpeg(b"not a jpeg").is_err());
        assert!(decode_jpeg(&[0xff, 0xd8, 0xff]).is_err());
    }
}
