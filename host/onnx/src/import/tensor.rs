//! Constant tensors: initializers, `Constant` nodes, and what folding the shape
//! arithmetic around `Reshape` gives. Integer values may hold the batch size as a
//! symbol, since a model with a dynamic batch computes its `Reshape` targets from it.
use super::error::ImportError;
use crate::proto::{DataLocation, DataType, TensorProto};

/// One integer of a constant: a known value, or the (dynamic) batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Known(i64),
    Batch,
}

impl Dim {
    /// The value, when it is known.
    pub fn known(self) -> Option<i64> {
        match self {
            Dim::Known(v) => Some(v),
            Dim::Batch => None,
        }
    }
}

/// The values of a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    Int(Vec<Dim>),
}

/// A constant tensor with a fixed shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Const {
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::Int(v) => v.len(),
        }
    }

    pub fn ints(v: Vec<Dim>, shape: Vec<usize>) -> Const {
        Const {
            shape,
            data: Data::Int(v),
        }
    }

    /// The values as floats (for weights); `None` for a symbolic batch size.
    pub fn floats(&self) -> Option<Vec<f32>> {
        match &self.data {
            Data::F32(v) => Some(v.clone()),
            Data::Int(v) => v.iter().map(|d| d.known().map(|x| x as f32)).collect(),
        }
    }

    /// The values as integers (for axes, shapes, indices); floats are truncated.
    pub fn dims(&self) -> Vec<Dim> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| Dim::Known(x as i64)).collect(),
            Data::Int(v) => v.clone(),
        }
    }

    /// The values as known integers; `None` when one is the symbolic batch size.
    pub fn known_ints(&self) -> Option<Vec<i64>> {
        self.dims().into_iter().map(Dim::known).collect()
    }

    /// The same values under another shape of the same size.
    pub fn reshaped(&self, shape: Vec<usize>) -> Const {
        Const {
            shape,
            data: self.data.clone(),
        }
    }

    /// Element `i` of the flat values, as the same kind of constant.
    pub fn pick(&self, idx: &[usize], shape: Vec<usize>) -> Const {
        let data = match &self.data {
            Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
            Data::Int(v) => Data::Int(idx.iter().map(|&i| v[i]).collect()),
        };
        Const { shape, data }
    }
}

fn malformed(name: &str, what: impl std::fmt::Display) -> ImportError {
    ImportError::Malformed(format!("tensor `{name}`: {what}"))
}

/// Reads `count` little-endian values of `width` bytes from `raw`.
fn chunks<'a>(
    name: &str,
    raw: &'a [u8],
    count: usize,
    width: usize,
) -> Result<std::slice::ChunksExact<'a, u8>, ImportError> {
    if raw.len() != count * width {
        return Err(malformed(
            name,
            format!(
                "{} bytes of data for {count} values of {width} bytes",
                raw.len()
            ),
        ));
    }
    Ok(raw.chunks_exact(width))
}

/// Decodes an ONNX tensor into a [`Const`], checking that its data fits its shape.
pub fn decode(t: &TensorProto) -> Result<Const, ImportError> {
    let name = t.name.as_deref().unwrap_or("(unnamed)");
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(malformed(
            name,
            "its values are in an external file, which the importer does not read; re-export with the weights inside the model (torch.onnx.export(..., external_data=False))",
        ));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    let mut count: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d)
            .ok()
            .filter(|&d| d <= deepiot_format::MAX_ELEMENTS)
            .ok_or_else(|| malformed(name, format!("bad dimension {d}")))?;
        count = count
            .checked_mul(d)
            .filter(|&c| c <= deepiot_format::MAX_ELEMENTS)
            .ok_or_else(|| malformed(name, format!("shape {:?} is too large", t.dims)))?;
        shape.push(d);
    }
    let raw = t.raw_data.as_deref();
    let dtype = t.data_type.unwrap_or(0);
    let typed_len = |n: usize| -> Result<(), ImportError> {
        if n == count {
            Ok(())
        } else {
            Err(malformed(
                name,
                format!("{n} values for shape {shape:?} ({count} values)"),
            ))
        }
    };
    let ints = |v: Vec<i64>| Data::Int(v.into_iter().map(Dim::Known).collect());
    let data = match DataType::try_from(dtype) {
        Ok(DataType::Float) => Data::F32(match raw {
            Some(r) => chunks(name, r, count, 4)?
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            None => {
                typed_len(t.float_data.len())?;
                t.float_data.clone()
            }
        }),
        Ok(DataType::Double) => Data::F32(match raw {
            Some(r) => chunks(name, r, count, 8)?
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b) as f32
                })
                .collect(),
            None => {
                typed_len(t.double_data.len())?;
                t.double_data.iter().map(|&x| x as f32).collect()
            }
        }),
        Ok(DataType::Int64) => ints(match raw {
            Some(r) => chunks(name, r, count, 8)?
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    i64::from_le_bytes(b)
                })
                .collect(),
            None => {
                typed_len(t.int64_data.len())?;
                t.int64_data.clone()
            }
        }),
        Ok(DataType::Int32) => ints(match raw {
            Some(r) => chunks(name, r, count, 4)?
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            None => {
                typed_len(t.int32_data.len())?;
                t.int32_data.iter().map(|&x| x as i64).collect()
            }
        }),
        Ok(DataType::Int8 | DataType::Uint8 | DataType::Bool) => {
            let signed = dtype == DataType::Int8 as i32;
            ints(match raw {
                Some(r) => chunks(name, r, count, 1)?
                    .map(|c| {
                        if signed {
                            c[0] as i8 as i64
                        } else {
                            c[0] as i64
                        }
                    })
                    .collect(),
                None => {
                    typed_len(t.int32_data.len())?;
                    t.int32_data.iter().map(|&x| x as i64).collect()
                }
            })
        }
        _ => {
            return Err(malformed(
                name,
                format!(
                    "element type {} is not supported (float, double and integer tensors are)",
                    DataType::try_from(dtype)
                        .map(|d| format!("{d:?}"))
                        .unwrap_or_else(|_| dtype.to_string())
                ),
            ))
        }
    };
    Ok(Const { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_typed_floats_decode_alike_and_short_data_is_an_error() {
        let typed = TensorProto {
            dims: vec![2],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1.5, -2.0],
            ..Default::default()
        };
        let mut raw = typed.clone();
        raw.float_data.clear();
        raw.raw_data = Some(
            [1.5f32, -2.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        );
        assert_eq!(decode(&typed).unwrap(), decode(&raw).unwrap());
        raw.raw_data.as_mut().unwrap().pop();
        assert!(matches!(decode(&raw), Err(ImportError::Malformed(_))));
    }
}
