//! MNIST from the four canonical gzip'd IDX files in `mnist/` of a data root.
//!
//! IDX: a big-endian magic (`0x00000803` for u8 images with 3 dimensions, `0x00000801`
//! for u8 labels with 1), one big-endian u32 per dimension, then the raw bytes. Pixels
//! are scaled to [0, 1] (`x = raw / 255`); the shape is `[1, 28, 28]`.
use super::{gunzip, DataError, DataRoot, Dataset, Result, Standardization};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte.gz";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte.gz";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte.gz";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte.gz";

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const SIDE: usize = 28;

/// The folder of the MNIST files inside a data root: `mnist/`, or the root itself for
/// the bundled subset (which is only MNIST).
fn rel(root: &DataRoot, name: &str) -> String {
    if root.is_bundled() || (!root.path.join("mnist").is_dir() && root.path.join(name).is_file()) {
        name.to_string()
    } else {
        format!("mnist/{name}")
    }
}

/// A parsed IDX file: its dimensions and its raw u8 payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses an uncompressed IDX file of u8 values with the given magic.
pub fn parse_idx(path: &Path, bytes: &[u8], magic: u32) -> Result<Idx> {
    let bad = |what: String| DataError::Format {
        path: path.to_path_buf(),
        what,
    };
    let rank = (magic & 0xff) as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "IDX header needs {header} bytes, the file has {} (truncated)",
            bytes.len()
        )));
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let found = be(0);
    if found != magic {
        return Err(bad(format!(
            "bad IDX magic 0x{found:08x}, expected 0x{magic:08x}"
        )));
    }
    let dims: Vec<usize> = (0..rank).map(|d| be(4 + 4 * d) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let payload = bytes.len() - header;
    if expected != Some(payload) {
        return Err(bad(format!(
            "IDX dimensions {dims:?} need {} bytes of data, the file has {payload}",
            expected.map_or("more than usize::MAX".to_string(), |e| e.to_string())
        )));
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads, checks and decompresses one IDX file of the root.
fn read_idx(root: &DataRoot, name: &str, magic: u32) -> Result<(PathBuf, Idx)> {
    let rel = rel(root, name);
    let path = root.file(&rel);
    let bytes = gunzip(&path, &root.read(&rel)?)?;
    let idx = parse_idx(&path, &bytes, magic)?;
    Ok((path, idx))
}

/// Reads one split (images and labels) as normalised inputs and labels.
fn read_split(root: &DataRoot, images: &str, labels: &str) -> Result<(Vec<f32>, Vec<u32>)> {
    let (ipath, img) = read_idx(root, images, IMAGES_MAGIC)?;
    let (lpath, lab) = read_idx(root, labels, LABELS_MAGIC)?;
    if img.dims[1..] != [SIDE, SIDE] {
        return Err(DataError::Format {
            path: ipath,
            what: format!("images are {:?}, expected {SIDE}x{SIDE}", &img.dims[1..]),
        });
    }
    if img.dims[0] != lab.dims[0] {
        return Err(DataError::Format {
            path: lpath,
            what: format!(
                "{} labels for {} images in {}",
                lab.dims[0],
                img.dims[0],
                ipath.display()
            ),
        });
    }
    if let Some(pos) = lab.data.iter().position(|&l| l > 9) {
        return Err(DataError::Format {
            path: lpath,
            what: format!(
                "label {} of example {pos} is not a digit 0-9",
                lab.data[pos]
            ),
        });
    }
    let x = img.data.iter().map(|&p| p as f32 / 255.0).collect();
    let y = lab.data.iter().map(|&l| l as u32).collect();
    Ok((x, y))
}

/// Loads MNIST from `root/mnist/` (or from the bundled subset).
pub fn load(root: &DataRoot) -> Result<Dataset> {
    let (train, test) = rayon::join(
        || read_split(root, TRAIN_IMAGES, TRAIN_LABELS),
        || read_split(root, TEST_IMAGES, TEST_LABELS),
    );
    let (train, test) = (train?, test?);
    let name = if root.is_bundled() {
        "mnist-subset"
    } else {
        "mnist"
    };
    Ok(Dataset::new(
        name,
        vec![1, SIDE, SIDE],
        (0..10).map(|d| d.to_string()).collect(),
        train,
        test,
        Standardization::scaled(1, 255.0),
    ))
}

/// Encodes an IDX file of u8 values.
fn encode_idx(magic: u32, dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&magic.to_be_bytes());
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Writes the first `n_train` training and first `n_test` test images and labels of the
/// MNIST in `src` as gzip'd IDX files with the canonical names into `dst`, plus a
/// `SHA256SUMS`. The output is deterministic (gzip level 9, no file name, mtime 0), so
/// rerunning it reproduces the bundled subset byte for byte.
pub fn write_mnist_subset(src: &DataRoot, dst: &Path, n_train: usize, n_test: usize) -> Result<()> {
    std::fs::create_dir_all(dst).map_err(|e| DataError::Write {
        path: dst.into(),
        error: e,
    })?;
    let mut sums = String::new();
    for (name, magic, n) in [
        (TRAIN_IMAGES, IMAGES_MAGIC, n_train),
        (TRAIN_LABELS, LABELS_MAGIC, n_train),
        (TEST_IMAGES, IMAGES_MAGIC, n_test),
        (TEST_LABELS, LABELS_MAGIC, n_test),
    ] {
        let (path, idx) = read_idx(src, name, magic)?;
        if n > idx.dims[0] {
            return Err(DataError::Format {
                path,
                what: format!("asked for {n} examples, the file has {}", idx.dims[0]),
            });
        }
        let per: usize = idx.dims[1..].iter().product();
        let mut dims = idx.dims.clone();
        dims[0] = n;
        let raw = encode_idx(magic, &dims, &idx.data[..n * per]);
        let out_path = dst.join(name);
        let werr = |e| DataError::Write {
            path: out_path.clone(),
            error: e,
        };
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw).map_err(werr)?;
        let gz = gz.finish().map_err(werr)?;
        crate::paths::write_atomic(&out_path, &gz).map_err(werr)?;
        sums.push_str(&format!("{}  ./{name}\n", super::sha256_hex(&gz)));
    }
    let sums_path = dst.join(super::SUMS_FILE);
    crate::paths::write_atomic(&sums_path, sums.as_bytes()).map_err(|e| DataError::Write {
        path: sums_path,
        error: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_roundtrip_and_errors() {
        let p = Path::new("x.idx");
        let bytes = encode_idx(IMAGES_MAGIC, &[2, 2, 3], &[1; 12]);
        let idx = parse_idx(p, &bytes, IMAGES_MAGIC).unwrap();
        assert_eq!(idx.dims, vec![2, 2, 3]);
        let e = parse_idx(p, &bytes, LABELS_MAGIC).unwrap_err().to_string();
        assert!(
            e.contains("bad IDX magic 0x00000803") && e.contains("x.idx"),
            "{e}"
        );
        let e = parse_idx(p, &bytes[..bytes.len() - 1], IMAGES_MAGIC)
            .unwrap_err()
            .to_string();
        assert!(e.contains("need 12 bytes") && e.contains("has 11"), "{e}");
        let e = parse_idx(p, &bytes[..5], IMAGES_MAGIC)
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
