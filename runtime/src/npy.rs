//! Reading NumPy `.npy` files (format versions 1, 2 and 3) holding little-endian float32
//! in C order. The header is a Python dict literal; it is parsed, not pattern-matched, and
//! anything other than `{'descr': '<f4', 'fortran_order': False, 'shape': (...)}` is
//! rejected with a message that says how to save the array instead.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The 6-byte magic every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// A decoded array.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// True when `bytes` starts like a `.npy` file.
pub fn is_npy(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// A tiny recursive-descent reader for the subset of Python literals `.npy` headers use.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(format!(
                "expected `{}` at byte {} of the header, found `{}`",
                c as char, self.pos, x as char
            )),
            None => Err(format!("expected `{}` but the header ended", c as char)),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.pos)),
        };
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos] != q {
            if self.s[self.pos] == b'\\' {
                return Err("escape sequences are not supported in .npy header strings".into());
            }
            self.pos += 1;
        }
        if self.pos >= self.s.len() {
            return Err("unterminated string in the header".into());
        }
        let text = core::str::from_utf8(&self.s[start..self.pos])
            .map_err(|_| "the header is not valid UTF-8".to_string())?
            .to_string();
        self.pos += 1;
        Ok(text)
    }
    fn word(&mut self) -> &'a [u8] {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len() && (self.s[self.pos].is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
    fn integer(&mut self) -> Result<usize, String> {
        let w = self.word();
        // Python 2 wrote long integers with an `L` suffix.
        let digits = w.strip_suffix(b"L").unwrap_or(w);
        core::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok())
            .ok_or_else(|| format!("`{}` is not a valid dimension", String::from_utf8_lossy(w)))
    }
    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => {
                self.pos += 1;
                let mut dims = Vec::new();
                loop {
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        break;
                    }
                    dims.push(self.integer()?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b')') => {}
                        _ => return Err("malformed shape tuple in the header".into()),
                    }
                }
                Ok(Value::Tuple(dims))
            }
            Some(b'[') => Err(
                "the header describes a structured dtype (a list); only plain float32 arrays are supported"
                    .into(),
            ),
            _ => match self.word() {
                b"True" => Ok(Value::Bool(true)),
                b"False" => Ok(Value::Bool(false)),
                w => Err(format!(
                    "unexpected `{}` in the header",
                    String::from_utf8_lossy(w)
                )),
            },
        }
    }
    fn dict(&mut self) -> Result<Vec<(String, Value)>, String> {
        self.expect(b'{')?;
        let mut entries = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(format!("key `{key}` appears twice in the header"));
            }
            entries.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err("malformed header dictionary".into()),
            }
        }
        if self.peek().is_some() {
            return Err("unexpected text after the header dictionary".into());
        }
        Ok(entries)
    }
}

const RESAVE: &str = "save it with np.save(path, np.ascontiguousarray(x, dtype='<f4'))";

/// Parses a whole `.npy` file.
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    if !is_npy(bytes) {
        return Err("not a .npy file (missing the \\x93NUMPY magic)".into());
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err("the file ends inside the .npy preamble".into()),
    };
    let (header_len, header_start): (usize, usize) = match major {
        1 => match bytes.get(8..10) {
            Some(b) => (u16::from_le_bytes([b[0], b[1]]) as usize, 10),
            None => return Err("the file ends inside the .npy preamble".into()),
        },
        2 | 3 => match bytes.get(8..12) {
            Some(b) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12),
            None => return Err("the file ends inside the .npy preamble".into()),
        },
        _ => {
            return Err(format!(
                ".npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)"
            ))
        }
    };
    let header = header_start
        .checked_add(header_len)
        .and_then(|end| bytes.get(header_start..end))
        .ok_or_else(|| {
            format!(
                "the .npy header claims {header_len} bytes but the file has only {}",
                bytes.len().saturating_sub(header_start)
            )
        })?;
    if major < 3 && !header.is_ascii() {
        return Err(format!(
            "the .npy {major}.0 header must be ASCII; the file is corrupt"
        ));
    }
    let entries = Lexer { s: header, pos: 0 }
        .dict()
        .map_err(|e| format!("bad .npy header: {e}"))?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in entries {
        match (k.as_str(), v) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", v) => {
                return Err(format!(
                    "bad .npy header: `{k}` has an unexpected value {v:?}"
                ))
            }
            (other, _) => {
                return Err(format!("bad .npy header: unknown key `{other}`"));
            }
        }
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err("bad .npy header: it must have the keys descr, fortran_order and shape".into());
    };
    match descr.as_str() {
        "<f4" => {}
        ">f4" => {
            return Err(format!(
                "the array is big-endian float32 ('>f4'); deepiot-run reads little-endian only: {RESAVE}"
            ))
        }
        other => {
            let name = match other.get(1..) {
                Some("f8") => " (float64)",
                Some("f2") => " (float16)",
                Some("i4") => " (int32)",
                Some("i8") => " (int64)",
                Some("u1") => " (uint8)",
                _ => "",
            };
            return Err(format!(
                "the array's dtype is '{other}'{name}; deepiot-run reads float32 ('<f4') only: {RESAVE}"
            ));
        }
    }
    let nontrivial = shape.iter().filter(|&&d| d > 1).count();
    if fortran && nontrivial > 1 {
        return Err(format!(
            "the array is in Fortran (column-major) order; deepiot-run reads C order: {RESAVE}"
        ));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("the .npy shape {shape:?} is too large"))?;
    let data = &bytes[header_start + header_len..];
    if count.checked_mul(4) != Some(data.len()) {
        return Err(format!(
            "the .npy shape {shape:?} needs {count} float32 values ({} bytes) but the file holds {} data bytes; the file is truncated or corrupt",
            count.saturating_mul(4),
            data.len()
        ));
    }
    let data = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Array { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn with_header(h: &str, data_bytes: usize) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend(core::iter::repeat_n(0u8, data_bytes));
        out
    }

    #[test]
    fn round_trips_what_numpy_writes() {
        let a = parse(&deepiot_format::testing::npy_bytes(
            &[2, 3],
            &[1.0, 2.0, 3.0, 4.0, 5.0, -6.5],
        ))
        .unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        let a = parse(&deepiot_format::testing::npy_bytes(&[4], &[0.0; 4])).unwrap();
        assert_eq!(a.shape, vec![4]);
    }

    #[test]
    fn accepts_key_order_quotes_and_scalars() {
        let a = parse(&with_header(
            "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}\n",
            4,
        ))
        .unwrap();
        assert_eq!(a.shape, Vec::<usize>::new());
        assert_eq!(a.data.len(), 1);
        // Fortran order of a vector is the same bytes as C order.
        let a = parse(&with_header(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 1), }",
            12,
        ))
        .unwrap();
        assert_eq!(a.data.len(), 3);
        // Version 2 header length is 4 bytes.
        let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
        let mut v2 = MAGIC.to_vec();
        v2.extend_from_slice(&[2, 0]);
        v2.extend_from_slice(&(h.len() as u32).to_le_bytes());
        v2.extend_from_slice(h.as_bytes());
        v2.extend_from_slice(&[0; 8]);
        assert_eq!(parse(&v2).unwrap().shape, vec![2]);
    }

    #[test]
    fn rejects_everything_else_with_a_reason() {
        let cases: &[(Vec<u8>, &str)] = &[
            (b"hello".to_vec(), "magic"),
            (MAGIC.to_vec(), "preamble"),
            (
                with_header(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                    16,
                ),
                "float64",
            ),
            (
                with_header(
                    "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                    8,
                ),
                "big-endian",
            ),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                    16,
                ),
                "Fortran",
            ),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                    8,
                ),
                "truncated",
            ),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                    12,
                ),
                "truncated",
            ),
            (
                with_header("{'descr': '<f4', 'shape': (2,), }", 8),
                "must have the keys",
            ),
            (
                with_header(
                    "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                    8,
                ),
                "structured",
            ),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
                    8,
                ),
                "header",
            ),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                    8,
                ),
                "dimension",
            ),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), }",
                    8,
                ),
                "too large",
            ),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                    8,
                ),
                "header",
            ),
            (
                with_header("{'descr': '<f4', 'fortran_order': False", 0),
                "header",
            ),
        ];
        for (bytes, want) in cases {
            let e = parse(bytes).unwrap_err();
            assert!(e.contains(want), "expected `{want}` in: {e}");
        }
        // The header length may not point past the end of the file.
        let mut lying = MAGIC.to_vec();
        lying.extend_from_slice(&[1, 0, 0xff, 0xff]);
        assert!(parse(&lying).unwrap_err().contains("claims"));
    }
}
