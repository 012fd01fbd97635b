//! One function per ONNX operator (or family).

use super::*;

/// Whether a node's outputs after the first are used (an optional output
/// qcc does not compute).
pub(super) fn extra_outputs(n: &NodeProto) -> bool {
    n.output.iter().skip(1).any(|s| !s.is_empty())
}

/// Computes `DynamicQuantizeLinear` on constant data: the same formula as
/// qcc's `dynamic_scale`, `dynamic_zero_point` and `quantize_dyn`
/// (`qcc_ir::quant::dynamic_params`).
pub(crate) fn dynamic_quantize(x: &[f32]) -> (Vec<i64>, f32, i64) {
    let (lo, hi) = quant::dynamic_range(x);
    let (scale, zp) = quant::dynamic_params(lo, hi);
    let q = x
        .iter()
        .map(|&v| quant::quantize_f32(v, scale, zp, 0, 255))
        .collect();
    (q, scale, zp)
}

/// How one ONNX operator is converted.
pub(super) type Convert = fn(&mut Converter<'_>, &At, &NodeProto) -> Result<(), ImportError>;

/// The one table of the ONNX operators qcc imports, filled by each family
/// file's `register` (as tract's `register_all_ops`): what is not in it is
/// refused by name.
#[derive(Default)]
pub(super) struct Registry {
    ops: HashMap<&'static str, Convert>,
}

impl Registry {
    pub(super) fn add(&mut self, op_type: &'static str, f: Convert) {
        let old = self.ops.insert(op_type, f);
        debug_assert!(old.is_none(), "{op_type} registered twice");
    }

    pub(super) fn get(&self, op_type: &str) -> Option<Convert> {
        self.ops.get(op_type).copied()
    }

    /// The registered operator names, sorted.
    #[cfg(test)]
    pub(super) fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.ops.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

/// Every family's operators.
pub(super) fn registry() -> &'static Registry {
    static REGISTRY: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(|| {
        let mut r = Registry::default();
        super::movement::register(&mut r);
        super::float::register(&mut r);
        super::logic::register(&mut r);
        super::recurrent::register(&mut r);
        super::control::register(&mut r);
        super::qdq::register(&mut r);
        super::qoperator::register(&mut r);
        super::nbits::register(&mut r);
        r
    });
    &REGISTRY
}

impl Converter<'_> {
    pub(super) fn node(&mut self, n: &NodeProto) -> Result<(), ImportError> {
        let op = n.op_type.clone().unwrap_or_default();
        let domain = n.domain.clone().unwrap_or_default();
        let node = n
            .name
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| n.output.first().cloned())
            .unwrap_or_else(|| "?".into());
        let at = At {
            node,
            op: op.clone(),
        };
        if !matches!(domain.as_str(), "" | "ai.onnx" | "com.microsoft") {
            return Err(at.unsupported(format!("operator domain `{domain}`")));
        }
        match registry().get(&op) {
            Some(convert) => convert(self, &at, n),
            None => Err(at.unsupported("qcc does not import this operator")),
        }
    }
}

/// Whether qcc has a converter for `op_type` of `domain` (the default
/// domain or com.microsoft).
pub(crate) fn is_registered(domain: &str, op_type: &str) -> bool {
    matches!(domain, "" | "ai.onnx" | "com.microsoft") && registry().get(op_type).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_holds_every_family() {
        let names = registry().names();
        for op in [
            "Constant",
            "Conv",
            "QuantizeLinear",
            "QLinearConv",
            "Transpose",
            "Gelu",
        ] {
            assert!(names.contains(&op), "{op}");
        }
        assert!(registry().get("NonMaxSuppression").is_none());
    }
}
