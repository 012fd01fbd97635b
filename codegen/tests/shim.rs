//! The shim: one test suite stamped over every micro-kernel this host can
//! run, and a disassembly check that the Cranelift path really emits the
//! dot-product instruction.

use qcc_codegen::shim::{self, DotPath};
use qcc_codegen::{CodegenOptions, compile};
use qcc_ir::text::parse;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_kernel_matches_the_reference_tile() {
    let mut rng = Rng(7);
    let mut ran = 0;
    for path in [DotPath::Avx512Vnni, DotPath::AvxVnni, DotPath::Avx2] {
        for mr in 1..=shim::MR {
            for nb in 1..=4 {
                for kp4 in [1, 2, 5, 8, 33, 64, 65, 200] {
                    for extreme in [false, true] {
                        let lda = 4 * kp4 + 4;
                        let width = 64; // a full panel; the kernel reads 16·nb columns of it
                        let ldb = 4 * width;
                        let a: Vec<u8> = (0..mr * lda)
                            .map(|i| {
                                if extreme {
                                    255 * (i % 2) as u8
                                } else {
                                    rng.next() as u8
                                }
                            })
                            .collect();
                        let b: Vec<i8> = (0..kp4 * ldb)
                            .map(|i| {
                                if extreme {
                                    if i % 3 == 0 { -128 } else { 127 }
                                } else {
                                    rng.next() as i8
                                }
                            })
                            .collect();
                        let ldc = 16 * nb + 3;
                        let mut c = vec![i32::MIN; mr * ldc];
                        if shim::run_kernel(path, mr, nb, kp4, &a, lda, &b, ldb, &mut c, ldc)
                            .is_none()
                        {
                            assert!(!path.is_supported());
                            continue;
                        }
                        let want = shim::reference_tile(mr, 16 * nb, kp4, &a, lda, &b, ldb);
                        for r in 0..mr {
                            assert_eq!(
                                &c[r * ldc..r * ldc + 16 * nb],
                                &want[r * 16 * nb..(r + 1) * 16 * nb],
                                "{path} {mr}x{nb} kp4 {kp4} row {r}"
                            );
                            // Nothing written past the tile.
                            assert!(
                                c[r * ldc + 16 * nb..(r + 1) * ldc]
                                    .iter()
                                    .all(|&v| v == i32::MIN)
                            );
                        }
                        ran += 1;
                    }
                }
            }
        }
    }
    eprintln!("{ran} kernel cases ran");
}

fn has_mnemonic(code: &[u8], m: iced_x86::Mnemonic) -> bool {
    let mut d = iced_x86::Decoder::with_ip(64, code, 0, iced_x86::DecoderOptions::NONE);
    let mut found = false;
    while d.can_decode() {
        if d.decode().mnemonic() == m {
            found = true;
        }
    }
    found
}

fn matmul_graph() -> qcc_ir::Graph {
    // A plain-integer matmul with K = 24 (not a multiple of 16).
    let w: Vec<String> = (0..24 * 20)
        .map(|i| ((i * 37 % 255) as i64 - 127).to_string())
        .collect();
    let text = format!(
        "graph @mm(%x: tensor<3x24x!quant.uniform<u8:f32, 0.5:3>>) -> (%y: tensor<3x20xi32>) {{\n  \
         %w = const dense<[{}]> : tensor<24x20xi8>\n  %y = matmul_int %x, %w : tensor<3x20xi32>\n  return %y\n}}\n",
        w.join(", ")
    );
    parse(&text, None).unwrap_or_else(|d| panic!("{}", qcc_ir::diag::render(&d, "mm", &text)))
}

#[test]
#[cfg(target_arch = "x86_64")]
fn the_cranelift_path_emits_vpdpbusd() {
    let f = qcc_codegen::host_features();
    if !(f.avx512vnni || f.avxvnni) {
        eprintln!("no VNNI on this host: nothing to check");
        return;
    }
    let g = matmul_graph();
    let opts = CodegenOptions {
        dot_path: Some(DotPath::Clif128),
        keep_text: true,
        ..Default::default()
    };
    let exe = compile(&g, &opts).unwrap();
    let op = exe
        .op_code()
        .iter()
        .find(|o| o.op == "matmul_int")
        .expect("the matmul's code");
    assert!(
        has_mnemonic(&op.code, iced_x86::Mnemonic::Vpdpbusd),
        "no vpdpbusd in:\n{}",
        op.asm
    );
    assert!(op.asm.contains("vpdpbusd"), "{}", op.asm);
    // The same tree on a target without VNNI still works, without the instruction.
    let scalar = compile(
        &g,
        &CodegenOptions {
            dot_path: Some(DotPath::Scalar),
            keep_text: true,
            ..Default::default()
        },
    )
    .unwrap();
    let op = scalar
        .op_code()
        .iter()
        .find(|o| o.op == "matmul_int")
        .unwrap();
    assert!(!has_mnemonic(&op.code, iced_x86::Mnemonic::Vpdpbusd));
}

#[test]
fn kernel_paths_call_the_micro_kernels() {
    let g = matmul_graph();
    for path in [DotPath::Avx512Vnni, DotPath::AvxVnni, DotPath::Avx2] {
        if !path.is_supported() {
            continue;
        }
        let opts = CodegenOptions {
            dot_path: Some(path),
            keep_text: true,
            ..Default::default()
        };
        let exe = compile(&g, &opts).unwrap();
        let op = exe.op_code().iter().find(|o| o.op == "matmul_int").unwrap();
        assert!(
            op.clif.contains(&format!("qcc_u8i8_{}_", path.name())) || op.clif.contains("call fn"),
            "{}",
            op.clif
        );
        #[cfg(target_arch = "x86_64")]
        assert!(has_mnemonic(&op.code, iced_x86::Mnemonic::Call));
    }
}

#[test]
fn forcing_a_path_the_host_lacks_is_an_error() {
    for p in DotPath::ALL {
        let r = compile(
            &matmul_graph(),
            &CodegenOptions {
                dot_path: Some(p),
                ..Default::default()
            },
        );
        assert_eq!(r.is_ok(), p.is_supported(), "{p}");
    }
}

#[test]
fn runs_from_several_threads_at_once() {
    let g = matmul_graph();
    let exe = compile(&g, &CodegenOptions::default()).unwrap();
    let x = qcc_ir::Tensor::new(
        vec![3, 24],
        qcc_ir::TensorData::U8((0..72).map(|i| (i * 7) as u8).collect()),
    );
    let want = qcc_ir::interp::run(&g, std::slice::from_ref(&x)).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut out = exe.new_outputs();
                for _ in 0..50 {
                    exe.run_into(std::slice::from_ref(&x), &mut out).unwrap();
                    assert_eq!(out, want);
                }
            });
        }
    });
    // Bad inputs are errors naming the problem.
    let e = exe.run(&[]).unwrap_err().to_string();
    assert!(e.contains("1 inputs but 0"), "{e}");
    let bad = qcc_ir::Tensor::new(vec![3, 24], qcc_ir::TensorData::I8(vec![0; 72]));
    let e = exe.run(&[bad]).unwrap_err().to_string();
    assert!(e.contains("stored as u8"), "{e}");
    let bad = qcc_ir::Tensor::new(vec![24, 3], qcc_ir::TensorData::U8(vec![0; 72]));
    let e = exe.run(&[bad]).unwrap_err().to_string();
    assert!(e.contains("shape"), "{e}");
}

/// On AMX hosts, a fused GEMM of enough rows calls the AMX tile kernel (and
/// gives the same bytes as the zmm kernels, which the differential tests of
/// `testsuite` check on every path).
#[test]
fn the_amx_path_calls_the_tile_kernel() {
    if !DotPath::Amx.is_supported() {
        eprintln!("no AMX-INT8 on this host (or not enabled by the OS): nothing to check");
        return;
    }
    // 40 × 100 × 80: enough rows, k and work for the AMX kernel.
    let w: Vec<String> = (0..100 * 80)
        .map(|i| ((i * 37 % 255) as i64 - 127).to_string())
        .collect();
    let text = format!(
        "graph @mm(%x: tensor<40x100x!quant.uniform<u8:f32, 0.5:3>>) -> (%y: tensor<40x80x!quant.uniform<u8:f32, 64.0:7>>) {{\n  \
         %w = const dense<[{}]> : tensor<100x80x!quant.uniform<i8:f32, 0.25>>\n  \
         %a = matmul_int %x, %w : tensor<40x80x!quant.uniform<i32:f32, 0.125>>\n  \
         %y = requantize %a : tensor<40x80x!quant.uniform<u8:f32, 64.0:7>>\n  return %y\n}}\n",
        w.join(", ")
    );
    let g =
        parse(&text, None).unwrap_or_else(|d| panic!("{}", qcc_ir::diag::render(&d, "mm", &text)));
    let opts = CodegenOptions {
        dot_path: Some(DotPath::Amx),
        keep_text: true,
        ..Default::default()
    };
    let exe = compile(&g, &opts).unwrap();
    assert_eq!(exe.fused_requantizes().len(), 1);
    // The AMX kernel is the one import with 12 arguments.
    let amx_sig = format!("= ({}) system_v", ["i64"; 12].join(", "));
    assert!(
        exe.op_code().iter().any(|o| o.clif.contains(&amx_sig)),
        "{:#?}",
        exe.op_code().iter().map(|o| &o.clif).collect::<Vec<_>>()
    );
    let x: Vec<u8> = (0..40 * 100).map(|i| (i * 91 % 256) as u8).collect();
    let x = qcc_ir::Tensor::new(vec![40, 100], qcc_ir::TensorData::U8(x));
    let zmm = compile(
        &g,
        &CodegenOptions {
            dot_path: Some(DotPath::Avx512Vnni),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        exe.run(std::slice::from_ref(&x)).unwrap(),
        zmm.run(&[x]).unwrap()
    );
}

/// The Cranelift path's dot-product tree, compiled for aarch64 with I8MM:
/// one `usdot` per 16 bytes (the rule of cranelift-codegen's aarch64
/// `lower.isle`), not a sequence of widening multiplies.
#[test]
fn the_dot_tree_lowers_to_usdot_on_aarch64() {
    use cranelift_codegen::ir::{
        AbiParam, Function, InstBuilder, MemFlagsData, Signature, UserFuncName, types,
    };
    use cranelift_codegen::isa::CallConv;
    use cranelift_codegen::settings::{self, Configurable};
    use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
    let mut isa_b = cranelift_codegen::isa::lookup_by_name("aarch64").expect("the aarch64 backend");
    isa_b.enable("has_i8mm").expect("the i8mm flag");
    let isa = isa_b
        .finish(settings::Flags::new(settings::builder()))
        .unwrap();
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend([AbiParam::new(types::I64); 3]);
    let mut func = Function::with_name_signature(UserFuncName::user(0, 0), sig);
    let mut ctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut func, &mut ctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let [a, w, out] = <[_; 3]>::try_from(b.block_params(entry)).unwrap();
        let flags = MemFlagsData::new().with_notrap();
        let u = qcc_codegen::shim::emit_broadcast4(&mut b, a);
        let s = b.ins().load(types::I8X16, flags, w, 0);
        let acc = b.ins().load(types::I32X4, flags, out, 0);
        let r = qcc_codegen::shim::emit_dot4(&mut b, acc, u, s, true);
        b.ins().store(flags, r, out, 0);
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(isa.frontend_config());
    }
    let mut cctx = cranelift_codegen::Context::for_function(func);
    cctx.set_disasm(true);
    let code = cctx
        .compile(&*isa, &mut Default::default())
        .expect("compiles");
    let asm = code.vcode.clone().unwrap_or_default();
    assert!(asm.contains("usdot"), "no usdot in:\n{asm}");
    assert!(
        !asm.contains("smull"),
        "widening multiplies left in:\n{asm}"
    );
}
