//! Resource limits: what a graph may declare before qcc refuses it.
//!
//! A graph from an untrusted file could declare a tensor of 2^40 elements
//! or millions of nodes; qcc checks such sizes against these limits before
//! it allocates anything for them (the verifier checks every value's type,
//! the node count and the constant bytes; the parser bounds what text can
//! make it allocate; `.npy` reading checks the declared shape against the
//! file's size). The defaults are generous for int8 models on CPUs; a user
//! raises them through [`Limits`] (library) or the `qcc` options named in
//! the error.

/// Resource limits, with [`Limits::default`] for the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most elements one tensor may have (default 2^28 = 268,435,456,
    /// 1 GiB of f32).
    pub max_tensor_elements: usize,
    /// The most bytes all constants together may take (default 4 GiB).
    pub max_constant_bytes: usize,
    /// The most nodes a graph may have (default 1,000,000).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tensor_elements: 1 << 28,
            max_constant_bytes: 4 << 30,
            max_nodes: 1_000_000,
        }
    }
}

impl Limits {
    /// No limits (for trusted graphs built in code).
    pub fn unlimited() -> Limits {
        Limits {
            max_tensor_elements: usize::MAX,
            max_constant_bytes: usize::MAX,
            max_nodes: usize::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify_with;
    use crate::{Graph, Op, TensorData, TensorType};

    fn chain(n: usize, len: usize) -> Graph {
        let mut g = Graph::new("g");
        let mut v = g.add_input("x", TensorType::f32(vec![len]));
        for _ in 0..n {
            v = g.add_node(Op::Relu, &[v], TensorType::f32(vec![len]));
        }
        g.add_output("y", v);
        g
    }

    fn messages(r: Result<(), Vec<crate::Diagnostic>>) -> String {
        r.unwrap_err()
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn each_limit_is_enforced_and_named() {
        let g = chain(10, 4);
        assert!(verify_with(&g, &Limits::default()).is_ok());
        let few_nodes = Limits {
            max_nodes: 5,
            ..Limits::default()
        };
        assert!(
            messages(verify_with(&g, &few_nodes)).contains("11 nodes, more than the limit of 5")
        );
        let small = Limits {
            max_tensor_elements: 3,
            ..Limits::default()
        };
        let m = messages(verify_with(&g, &small));
        assert!(
            m.contains("has 4 elements, more than the limit of 3"),
            "{m}"
        );
        let mut c = Graph::new("c");
        let k = c.add_const(TensorData::F32(vec![0.0; 100]), TensorType::f32(vec![100]));
        c.add_output("y", k);
        let tight = Limits {
            max_constant_bytes: 399,
            ..Limits::default()
        };
        let m = messages(verify_with(&c, &tight));
        assert!(
            m.contains("the constants take 400 bytes, more than the limit of 399"),
            "{m}"
        );
        assert!(
            verify_with(
                &c,
                &Limits {
                    max_constant_bytes: 400,
                    ..Limits::default()
                }
            )
            .is_ok()
        );
        assert!(verify_with(&chain(3, 1 << 29), &Limits::unlimited()).is_ok());
    }
}
