//! Target policy: which kernels a target runs and the weight layouts they
//! read. The one owner of these decisions: the e-graph cost model and the
//! `pick-layout` rule (`qcc_passes`) and the GEMM lowering (`qcc_codegen`)
//! all call the functions here, so a weight is packed exactly as the kernel
//! that runs it reads it.

use crate::{Layout, Op, ScalarType, TensorType};

/// Which dot-product kernels run the graph, as far as the layout of their
/// weights goes (`pick-layout`; the layouts are `qcc_ir::layout`'s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LayoutTarget {
    /// Any machine (the scalar loops, or unknown): weights stay row-major.
    #[default]
    Portable,
    /// 4-way dot-product micro-kernels (AVX512-VNNI, AVX-VNNI, and the
    /// 128-bit Cranelift tree): panels with `K` padded to 4 (`#k4n64`).
    Vnni,
    /// AMX-INT8 tiles for the GEMMs large enough for them (`K` padded to
    /// 64, `#k4n64_k64`), the VNNI panels for the others.
    Amx,
}

impl LayoutTarget {
    pub const ALL: [LayoutTarget; 3] = [
        LayoutTarget::Portable,
        LayoutTarget::Vnni,
        LayoutTarget::Amx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LayoutTarget::Portable => "portable",
            LayoutTarget::Vnni => "vnni",
            LayoutTarget::Amx => "amx",
        }
    }

    pub fn from_name(s: &str) -> Option<LayoutTarget> {
        LayoutTarget::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// Why [`preferred_layout`] keeps a weight row-major: the guard (a short
/// name, as the passes report guards) and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub guard: &'static str,
    pub detail: String,
}

impl Refusal {
    pub fn new(guard: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            guard,
            detail: detail.into(),
        }
    }
}

fn guard(name: &'static str, cond: bool, detail: impl FnOnce() -> String) -> Result<(), Refusal> {
    if cond {
        Ok(())
    } else {
        Err(Refusal::new(name, detail()))
    }
}

/// Whether a GEMM of `m × k × n` runs on AMX tiles (else on the VNNI
/// micro-kernels): at least 8 rows, `k ≥ 48` and `m·k·n ≥ 2^18`. The code
/// generator picks the kernel by it and `pick-layout` packs `K` to 64 by
/// it, so the two agree by construction.
pub fn amx_gemm_pays(m: usize, k: usize, n: usize) -> bool {
    m >= 8 && k >= 48 && m.saturating_mul(k).saturating_mul(n) >= 1 << 18
}

/// The layout `target`'s kernels read the weights `w` of `op` in, for
/// activations `x` and the result `y`; row-major where they read no packed
/// layout. The refusal names the guard that keeps row-major (the
/// `pick-layout` rule reports it; the e-graph cost model only asks whether
/// a weight is already in its preferred layout).
pub fn preferred_layout(
    target: LayoutTarget,
    op: &Op,
    x: &TensorType,
    w: &TensorType,
    y: &TensorType,
) -> Result<Layout, Refusal> {
    let conv = match op {
        Op::MatMulInt(_) => false,
        Op::Conv2dInt(a, _) if a.groups == 1 => true,
        _ => {
            return Err(Refusal::new(
                "op",
                "not a matmul_int or a conv2d_int of one group",
            ));
        }
    };
    guard("target", target != LayoutTarget::Portable, || {
        "the portable target reads row-major weights".into()
    })?;
    let x_ok = matches!(
        x.elem.storage(),
        ScalarType::U8 | ScalarType::I8 | ScalarType::U4 | ScalarType::I4
    ) && x.elem.as_quant().is_none_or(|q| !q.is_per_axis());
    guard(
        "kernel-reads-it",
        x_ok && w.elem.storage() == ScalarType::I8 && y.elem.int_range().is_some(),
        || {
            format!(
                "the GEMM kernels take 8-bit per-tensor activations and i8 weights, not `{}` × `{}`",
                x.elem, w.elem
            )
        },
    )?;
    let geo = Layout::panels(conv, 4)
        .geometry(&w.shape)
        .ok_or_else(|| Refusal::new("kernel-reads-it", "weights of the wrong rank"))?;
    // Rows of the GEMM: matmul x [..., M, K]; conv N·OH·OW (y is [N, O, OH, OW]).
    let rows = y.num_elements().unwrap_or(0) / geo.n.max(1);
    let k_align = if target == LayoutTarget::Amx && amx_gemm_pays(rows, geo.k, geo.n) {
        64
    } else {
        4
    };
    Ok(Layout::panels(conv, k_align))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amx_pays_from_8_rows_k_48_and_2_pow_18_products() {
        assert!(amx_gemm_pays(8, 48, 683));
        assert!(!amx_gemm_pays(8, 48, 682)); // 8·48·682 < 2^18
        assert!(!amx_gemm_pays(7, 4096, 4096));
        assert!(!amx_gemm_pays(4096, 47, 4096));
        assert!(amx_gemm_pays(usize::MAX, usize::MAX, 2)); // saturates, no overflow
    }

    #[test]
    fn names_round_trip() {
        for t in LayoutTarget::ALL {
            assert_eq!(LayoutTarget::from_name(t.name()), Some(t));
        }
    }
}
