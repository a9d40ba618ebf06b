//! What the import tests share: the fixtures folder and a reader for the `.npy` files
//! the fixture script saved (little-endian float32, C order).
#![allow(dead_code)]
use std::path::PathBuf;

/// `host/onnx/tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A float32 `.npy` array: its shape and values.
pub fn read_npy_f32(name: &str) -> (Vec<usize>, Vec<f32>) {
    let path = fixture(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{name}: not an .npy file");
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).unwrap();
    assert!(
        header.contains("'descr': '<f4'"),
        "{name}: not float32: {header}"
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{name}: {header}"
    );
    let open = header.find("'shape': (").unwrap() + "'shape': (".len();
    let close = open + header[open..].find(')').unwrap();
    let shape: Vec<usize> = header[open..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let values: Vec<f32> = bytes[start + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>(), "{name}");
    (shape, values)
}
