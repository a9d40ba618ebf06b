//! Just enough JSON writing for the command's output (no serde: binary size).
use crate::prelude::*;
use core::fmt::Write;

/// Appends `s` as a JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a float. Rust prints the shortest text that reads back to the same `f32`, so
/// a reader gets the exact value; NaN and infinities (not JSON) become `null`.
pub fn float(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

pub fn f32s(out: &mut String, vs: &[f32]) {
    out.push('[');
    for (i, &v) in vs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if v.is_finite() {
            let _ = write!(out, "{v}");
        } else {
            out.push_str("null");
        }
    }
    out.push(']');
}

pub fn usizes(out: &mut String, vs: &[usize]) {
    out.push('[');
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v}");
    }
    out.push(']');
}

pub fn strings<'a>(out: &mut String, vs: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, v) in vs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, v);
    }
    out.push(']');
}

/// Appends `"key":` (after a comma unless it opens the object).
pub fn key(out: &mut String, k: &str) {
    if !out.ends_with('{') && !out.ends_with('[') {
        out.push(',');
    }
    string(out, k);
    out.push(':');
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_and_floats() {
        let mut s = String::from("{");
        super::key(&mut s, "a\"b");
        super::string(&mut s, "x\n\u{1}é");
        super::key(&mut s, "v");
        super::f32s(&mut s, &[0.1, -1e-7, f32::NAN, 3.0e30]);
        s.push('}');
        assert_eq!(
            s,
            "{\"a\\\"b\":\"x\\n\\u0001é\",\"v\":[0.1,-0.0000001,null,3000000000000000000000000000000]}"
        );
    }
}
