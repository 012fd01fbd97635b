//! The one definition of `slice`'s index arithmetic, shared by the verifier
//! (result shape), the interpreter (which elements) and code generation
//! (strided copies), and used by the ONNX importer to fold constant slices.
//!
//! The rule is ONNX `Slice` with every axis listed: negative starts and ends
//! count from the end of the axis, then both are clamped to the axis (to
//! `[0, d]` for a positive step, to `[−1, d − 1]` for a negative one), and
//! the axis keeps the elements `start, start + step, …` strictly before
//! `end`.

/// What one axis keeps: `len` elements from `start`, every `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisSlice {
    pub start: usize,
    pub step: i64,
    pub len: usize,
}

impl AxisSlice {
    /// Whether the axis is kept whole and in order.
    pub fn is_identity(&self, dim: usize) -> bool {
        self.len == dim && (dim == 0 || (self.start == 0 && (self.step == 1 || dim == 1)))
    }
}

/// One axis of extent `dim` sliced by ONNX's `start`, `end`, `step`.
pub fn slice_axis(dim: usize, start: i64, end: i64, step: i64) -> Result<AxisSlice, String> {
    if step == 0 {
        return Err("a step of 0".into());
    }
    let d = dim as i128;
    let norm = |x: i64| {
        let x = x as i128;
        if x < 0 { x + d } else { x }
    };
    let (s, e) = (norm(start), norm(end));
    let (s, len) = if step > 0 {
        let (s, e) = (s.clamp(0, d), e.clamp(0, d));
        let st = step as i128;
        (s, if e > s { (e - s + st - 1) / st } else { 0 })
    } else {
        let (s, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
        let st = -(step as i128);
        (s, if s > e { (s - e + st - 1) / st } else { 0 })
    };
    Ok(AxisSlice {
        start: if len == 0 { 0 } else { s as usize },
        step,
        len: len as usize,
    })
}

/// Every axis of `shape` sliced; the three lists must have its rank.
pub fn slice_plan(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    steps: &[i64],
) -> Result<Vec<AxisSlice>, String> {
    let r = shape.len();
    for (name, l) in [("starts", starts), ("ends", ends), ("steps", steps)] {
        if l.len() != r {
            return Err(format!(
                "`{name}` has {} values; the operand has rank {r}",
                l.len()
            ));
        }
    }
    (0..r)
        .map(|a| {
            slice_axis(shape[a], starts[a], ends[a], steps[a]).map_err(|e| format!("axis {a}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(dim: usize, start: i64, end: i64, step: i64) -> Vec<usize> {
        let a = slice_axis(dim, start, end, step).unwrap();
        (0..a.len)
            .map(|i| (a.start as i64 + i as i64 * a.step) as usize)
            .collect()
    }

    #[test]
    fn onnx_rules() {
        assert_eq!(picks(5, 0, i64::MAX, 1), vec![0, 1, 2, 3, 4]);
        assert_eq!(picks(5, 1, i64::MAX, 2), vec![1, 3]);
        assert_eq!(picks(5, 0, i64::MAX, 2), vec![0, 2, 4]);
        assert_eq!(picks(5, -1, i64::MIN, -1), vec![4, 3, 2, 1, 0]);
        assert_eq!(picks(5, -2, -4, -1), vec![3, 2]);
        assert_eq!(picks(5, 3, 4, 1), vec![3]);
        assert_eq!(picks(5, 4, 2, 1), Vec::<usize>::new());
        assert_eq!(picks(5, 10, 20, 1), Vec::<usize>::new());
        assert_eq!(picks(5, -100, 2, 1), vec![0, 1]);
        assert_eq!(picks(0, 0, 1, 1), Vec::<usize>::new());
        assert_eq!(picks(0, -1, i64::MIN, -1), Vec::<usize>::new());
        assert!(slice_axis(3, 0, 1, 0).is_err());
    }

    #[test]
    fn plan_checks_rank() {
        assert!(slice_plan(&[2, 3], &[0], &[1, 1], &[1, 1]).is_err());
        let p = slice_plan(&[2, 3], &[0, 1], &[2, 3], &[1, 1]).unwrap();
        assert!(p[0].is_identity(2) && !p[1].is_identity(3));
    }
}
