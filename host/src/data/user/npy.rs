//! A small, strict reader of NumPy `.npy` files (format versions 1, 2 and 3): the header's
//! dict (`descr`, `fortran_order`, `shape`) and the raw little-endian data after it.
//!
//! Only what a user's data folder needs: C-order arrays of `<f4` inputs and integer
//! labels (`<i8`, `<i4`, `<i2`, `|i1`, `<u8`, `<u4`, `<u2`, `|u1`, and `bool`). Anything else
//! (Fortran order, big-endian, other dtypes, object arrays, a truncated file) is refused
//! with a message naming the file and what to do, never guessed at.
use super::super::DataError;
use std::path::Path;

/// The element types a user folder may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
}

impl Dtype {
    /// The dtype a `descr` string names, if it is one this reader takes.
    fn parse(descr: &str) -> Option<Dtype> {
        Some(match descr {
            "<f4" => Dtype::F32,
            "<i8" => Dtype::I64,
            "<i4" => Dtype::I32,
            "<i2" => Dtype::I16,
            "|i1" | "<i1" => Dtype::I8,
            "<u8" => Dtype::U64,
            "<u4" => Dtype::U32,
            "<u2" => Dtype::U16,
            "|u1" | "<u1" => Dtype::U8,
            "|b1" => Dtype::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::I64 | Dtype::U64 => 8,
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    pub fn is_integer(self) -> bool {
        self != Dtype::F32
    }
}

/// One array as read: its dtype, its shape and its little-endian data bytes.
#[derive(Debug, Clone)]
pub struct Npy {
    pub descr: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    data: Vec<u8>,
}

impl Npy {
    /// The values of a `<f4` array, in C order.
    pub fn to_f32(&self) -> Vec<f32> {
        self.data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// The values of an integer array, widened to i128 so that every u64 fits.
    pub fn to_integers(&self) -> Vec<i128> {
        let d = &self.data;
        let n = self.dtype.size();
        d.chunks_exact(n)
            .map(|b| match self.dtype {
                Dtype::I64 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as i128,
                Dtype::U64 => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as i128,
                Dtype::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i128,
                Dtype::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i128,
                Dtype::I16 => i16::from_le_bytes([b[0], b[1]]) as i128,
                Dtype::U16 => u16::from_le_bytes([b[0], b[1]]) as i128,
                Dtype::I8 => b[0] as i8 as i128,
                Dtype::U8 | Dtype::Bool => b[0] as i128,
                Dtype::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i128,
            })
            .collect()
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads and checks a whole `.npy` file.
pub fn read(path: &Path) -> Result<Npy, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        error: e,
    })?;
    parse(path, &bytes)
}

/// Parses the bytes of a `.npy` file; `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Npy, DataError> {
    let bad = |what: String| DataError::Npy {
        path: path.to_path_buf(),
        what,
    };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(
            "not a .npy file (no \\x93NUMPY magic); save arrays with numpy.save".into(),
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => {
            return Err(bad(format!(
                "unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are read)"
            )))
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad(format!("truncated: the header says {header_len} bytes")))?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| bad("the header is not text".into()))?;
    let dict = parse_header(header)
        .map_err(|what| bad(format!("bad header `{}`: {what}", header.trim())))?;
    if dict.fortran_order {
        return Err(bad(
            "Fortran order is not supported; save a C-order copy: numpy.save(path, numpy.ascontiguousarray(a))"
                .into(),
        ));
    }
    let dtype = Dtype::parse(&dict.descr).ok_or_else(|| DataError::Dtype {
        path: path.to_path_buf(),
        found: dict.descr.clone(),
        want: "float32 (`<f4`) inputs and integer labels (`<i8`, `<i4`, `|u1`, ...), little-endian"
            .into(),
    })?;
    let count = dict
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {:?} is too large", dict.shape)))?;
    let want = count
        .checked_mul(dtype.size())
        .ok_or_else(|| bad(format!("shape {:?} is too large", dict.shape)))?;
    let data = &bytes[end..];
    if data.len() != want {
        return Err(bad(format!(
            "{} data bytes for shape {:?} of `{}` ({want} expected): the file is truncated or \
             not what its header says",
            data.len(),
            dict.shape,
            dict.descr
        )));
    }
    Ok(Npy {
        descr: dict.descr,
        dtype,
        shape: dict.shape,
        data: data.to_vec(),
    })
}

/// The three entries of a `.npy` header.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` (the Python
/// literal numpy writes), in any key order, with any spacing.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut p = Lexer {
        s: text.trim().as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            "descr" => {
                descr = Some(p.string().map_err(|_| {
                    "descr is not a plain dtype string (structured arrays are not supported)"
                })?)
            }
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(format!("unexpected key `{other}`")),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    Ok(Header {
        descr: descr.ok_or("no `descr`")?,
        fortran_order: fortran.ok_or("no `fortran_order`")?,
        shape: shape.ok_or("no `shape`")?,
    })
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let q = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.i)),
        };
        let from = self.i + 1;
        let len = self.s[from..]
            .iter()
            .position(|&c| c == q)
            .ok_or("unterminated string")?;
        self.i = from + len + 1;
        Ok(String::from_utf8_lossy(&self.s[from..from + len]).into_owned())
    }

    fn word(&mut self) -> &[u8] {
        self.skip_ws();
        let from = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        &self.s[from..self.i]
    }

    fn boolean(&mut self) -> Result<bool, String> {
        match self.word() {
            b"True" => Ok(true),
            b"False" => Ok(false),
            w => Err(format!(
                "expected True or False, got `{}`",
                String::from_utf8_lossy(w)
            )),
        }
    }

    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(out);
            }
            let w = self.word();
            let text = std::str::from_utf8(w).unwrap_or("");
            let n = text
                .trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("`{text}` is not a dimension"))?;
            out.push(n);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let f = if fortran { "True" } else { "False" };
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn reads_floats_and_integer_labels() {
        let vals: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = parse(Path::new("x.npy"), &file("<f4", false, "(2, 3)", &vals)).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.to_f32(), vec![1.5, -2.0, 3.25, 0.0, 7.0, 8.0]);
        let labels: Vec<u8> = [3i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let y = parse(Path::new("y.npy"), &file("<i8", false, "(2,)", &labels)).unwrap();
        assert_eq!(y.shape, vec![2]);
        assert_eq!(y.to_integers(), vec![3, -1]);
        let y = parse(
            Path::new("y.npy"),
            &file("|u1", false, "(3,)", &[0, 255, 2]),
        )
        .unwrap();
        assert_eq!(y.to_integers(), vec![0, 255, 2]);
        let s = parse(Path::new("s.npy"), &file("<f4", false, "()", &vals[..4])).unwrap();
        assert!(s.shape.is_empty());
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        let p = Path::new("d/x.npy");
        let four = [0u8; 4];
        let err = |b: Vec<u8>| parse(p, &b).unwrap_err().to_string();
        let e = err(file("<f4", true, "(1,)", &four));
        assert!(e.contains("d/x.npy") && e.contains("Fortran"), "{e}");
        let e = err(file(">f4", false, "(1,)", &four));
        assert!(e.contains("d/x.npy") && e.contains(">f4"), "{e}");
        let e = err(file("<f8", false, "(1,)", &four));
        assert!(e.contains("<f8"), "{e}");
        let e = err(file("<f4", false, "(2,)", &four));
        assert!(e.contains("truncated"), "{e}");
        let e = err(b"PK\x03\x04 not numpy".to_vec());
        assert!(e.contains("magic"), "{e}");
        let mut cut = file("<f4", false, "(1,)", &four);
        cut.truncate(20);
        assert!(err(cut).contains("truncated"));
    }

    #[test]
    fn header_in_any_order_and_spacing() {
        let h = parse_header("{ \"shape\":(4,5),'fortran_order':False ,'descr':'<i4'}").unwrap();
        assert_eq!(
            h,
            Header {
                descr: "<i4".into(),
                fortran_order: false,
                shape: vec![4, 5]
            }
        );
        assert!(
            parse_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}")
                .is_err()
        );
    }
}
