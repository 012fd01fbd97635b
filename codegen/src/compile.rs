//! `compile` as a list of phases, each a function of what the phases before
//! it decided:
//!
//! 1. [`schedule`]: the live values in canonical order, each op's step and
//!    each value's last use;
//! 2. [`node_plan`]: per op, decided once: the kernel (`Prep`: GEMM,
//!    depthwise, direct convolution or generic loops, with its packed weights
//!    and work units) and what its epilogue takes over (requantize, clamp,
//!    bias add: the fusion plan);
//! 3. [`io_slots`] and [`arena_plan`]: which inputs and outputs are used in
//!    place, and the arena offset of every other tensor and temporary;
//! 4. [`constants`]: the read-only data of the constants read as written;
//! 5. [`emit`]: one Cranelift function per op phase; lowering reads the plan;
//! 6. [`finalize`]: the machine code, the run-time signature and the
//!    `Executable`.
//!
//! Phases 1–3 know nothing of the JIT module, and phases 4–5 take any
//! `cranelift_module::Module`: the object-file emitter (`crate::aot`)
//! reuses them and replaces phase 6.

use super::*;

/// Phase 1: the order of the live values and their lifetimes.
pub(crate) struct Schedule {
    /// Live values (inputs always), in canonical order.
    pub order: Vec<ValueId>,
    /// The ops among them, in execution order.
    pub ops_order: Vec<ValueId>,
    /// Each value's step: 1-based position in `ops_order`; 0 for inputs
    /// and constants.
    pub step: HashMap<ValueId, usize>,
    /// The last step that reads each value (outputs: forever).
    pub last: HashMap<ValueId, usize>,
}

/// Phase 2: what each op runs as, and what its epilogue absorbed.
pub(crate) struct NodePlan {
    /// Per op of `Schedule::ops_order`.
    pub preps: Vec<Prep>,
    /// Values no op writes to memory (accumulators fused away).
    pub fused_acc: HashSet<ValueId>,
    /// A fused chain's final value lives from its GEMM's step on.
    pub fused_start: HashMap<ValueId, usize>,
    pub fused_names: Vec<String>,
    /// Each fused GEMM (or depthwise conv) and the ops folded into it, in order.
    pub fused_groups: Vec<(ValueId, Vec<ValueId>)>,
    pub prepacked: Vec<String>,
}

/// Phase 3: the inputs and outputs read and written in place.
pub(crate) struct IoSlots {
    pub io_slot: HashMap<ValueId, usize>,
    pub n_in: usize,
}

/// Phase 3: the arena.
pub(crate) struct ArenaPlan {
    pub value_off: HashMap<ValueId, usize>,
    pub temps: HashMap<ValueId, Vec<usize>>,
    pub arena_size: usize,
}

/// Phase 4: constants declared as read-only data.
pub(crate) struct Constants {
    pub const_data: HashMap<ValueId, (DataId, usize)>,
    pub data_ids: Vec<DataId>,
    pub counter: usize,
}

/// Phase 5: the functions defined in the module.
pub(crate) struct Emitted {
    pub func_ids: Vec<FuncId>,
    pub text: Vec<OpCode>,
    pub steps: Vec<(String, &'static str)>,
    pub exec: Vec<(jit::Step, usize)>,
}

fn is_op(graph: &Graph, v: ValueId) -> bool {
    !matches!(graph.node(v).op, Op::Input(_) | Op::Const(_))
}

pub(crate) fn elem_bytes(graph: &Graph, v: ValueId) -> usize {
    let ty = graph.ty(v);
    ty.shape.iter().product::<usize>() * Ek::of(ty.elem.storage()).size()
}

/// Compiles a graph (verified first) to machine code.
pub fn compile(graph: &Graph, options: &CodegenOptions) -> Result<Executable, CodegenError> {
    verified(graph)?;
    let path = options.dot_path.unwrap_or_else(best_path);
    if !path.is_supported() {
        return Err(CodegenError::PathUnsupported(path));
    }
    let sched = schedule(graph);
    let plan = node_plan(graph, &sched, path, options);
    let io = io_slots(graph);
    let arena = arena_plan(graph, &sched, &plan, &io);
    let isa = jit::host_isa(options.optimize, path != DotPath::Scalar)?;
    let mut module = jit::new_module(isa);
    let mut consts = constants(&mut module, graph, &sched, &plan);
    let emitted = emit(
        &mut module,
        graph,
        &sched,
        &plan,
        &io,
        &arena,
        &mut consts,
        options,
        EmitTarget::jit(),
    )?;
    finalize(
        module, graph, plan, io, arena, consts, emitted, path, options,
    )
}

/// The verifier's verdict as a `CodegenError`.
pub(crate) fn verified(graph: &Graph) -> Result<(), CodegenError> {
    qcc_ir::verify::verify(graph).map_err(|d| {
        CodegenError::Invalid(
            d.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// Phase 1.
pub(crate) fn schedule(graph: &Graph) -> Schedule {
    // Live values, in canonical order; every input is kept (the runner
    // writes it).
    let mut live = HashSet::new();
    let mut stack: Vec<ValueId> = graph.outputs().iter().map(|o| o.value).collect();
    while let Some(v) = stack.pop() {
        if live.insert(v) {
            stack.extend(graph.args(v));
        }
    }
    live.extend(graph.inputs().iter().copied());
    let order: Vec<ValueId> = graph
        .canonical_order()
        .into_iter()
        .filter(|v| live.contains(v))
        .collect();
    let mut step = HashMap::new();
    let mut ops_order = Vec::new();
    for &v in &order {
        if is_op(graph, v) {
            ops_order.push(v);
            step.insert(v, ops_order.len());
        } else {
            step.insert(v, 0);
        }
    }
    const FOREVER: usize = usize::MAX / 2;
    let mut last: HashMap<ValueId, usize> = order.iter().map(|&v| (v, step[&v])).collect();
    for &v in &ops_order {
        for a in graph.args(v) {
            let e = last.entry(a).or_default();
            *e = (*e).max(step[&v]);
        }
    }
    for o in graph.outputs() {
        last.insert(o.value, FOREVER);
    }

    Schedule {
        order,
        ops_order,
        step,
        last,
    }
}

/// Phase 2: the kernel of every op, the fusion plan, and the work units.
pub(crate) fn node_plan(
    graph: &Graph,
    sched: &Schedule,
    path: DotPath,
    options: &CodegenOptions,
) -> NodePlan {
    let (ops_order, step) = (&sched.ops_order, &sched.step);
    let mut preps: Vec<Prep> = ops_order
        .iter()
        .map(|&v| ops::prepare(graph, v, path))
        .collect();

    // Fusion of a requantize into the GEMM that feeds it (its only user;
    // the accumulator is not an output): the GEMM writes the requantize's
    // result, which then lives from the GEMM's step on, and the i32
    // accumulator takes no memory.
    let outputs: HashSet<ValueId> = graph.outputs().iter().map(|o| o.value).collect();
    let mut fused_acc: HashSet<ValueId> = HashSet::new();
    let mut fused_start: HashMap<ValueId, usize> = HashMap::new();
    let mut fused_groups: Vec<(ValueId, Vec<ValueId>)> = Vec::new();
    for i in 0..ops_order.len() {
        let v = ops_order[i];
        if !matches!(preps[i], Prep::Gemm(_) | Prep::Depthwise(_)) {
            continue;
        }
        if outputs.contains(&v) {
            continue;
        }
        let users: Vec<ValueId> = ops_order
            .iter()
            .copied()
            .filter(|&u| graph.args(u).contains(&v))
            .collect();
        let [r] = users[..] else {
            continue;
        };
        if graph.args(r).len() != 1 {
            continue;
        }
        // A `clamp_int` that is the requantize's only user folds in too.
        let clamp = if outputs.contains(&r) {
            None
        } else {
            let cu: Vec<ValueId> = ops_order
                .iter()
                .copied()
                .filter(|&u| graph.args(u).contains(&r))
                .collect();
            match cu[..] {
                [c] => match graph.node(c).op {
                    Op::ClampInt { min, max } if graph.args(c).len() == 1 => Some((c, min, max)),
                    _ => None,
                },
                _ => None,
            }
        };
        let fuse = |prep: &mut Prep, clamp: Option<(i64, i64)>| match prep {
            Prep::Gemm(g) => ops::try_fuse_requant(graph, v, r, clamp, g),
            Prep::Depthwise(d) => ops::try_fuse_depthwise(graph, v, r, clamp, d),
            _ => false,
        };
        let mut last_value = r;
        if let Some((c, min, max)) = clamp
            && fuse(&mut preps[i], Some((min, max)))
        {
            last_value = c;
            fused_acc.insert(r);
        } else if !fuse(&mut preps[i], None) {
            continue;
        }
        match &mut preps[i] {
            Prep::Gemm(g) => g.fused_into = Some(last_value),
            Prep::Depthwise(d) => d.fused_into = Some(last_value),
            _ => {}
        }
        let mut members = vec![r];
        if last_value != r {
            members.push(last_value);
        }
        // Then an `add_int` of a per-column constant (a bias the quantizer
        // put after the requantize), and a `clamp_int` after that.
        if matches!(preps[i], Prep::Gemm(_)) && !outputs.contains(&last_value) {
            let only_user = |x: ValueId| -> Option<ValueId> {
                let us: Vec<ValueId> = ops_order
                    .iter()
                    .copied()
                    .filter(|&u| graph.args(u).contains(&x))
                    .collect();
                match us[..] {
                    [u] => Some(u),
                    _ => None,
                }
            };
            if let Some(add) = only_user(last_value)
                && matches!(graph.node(add).op, Op::AddInt { .. })
            {
                let clamp = (!outputs.contains(&add))
                    .then(|| only_user(add))
                    .flatten()
                    .and_then(|c| match graph.node(c).op {
                        Op::ClampInt { min, max } if graph.args(c).len() == 1 => {
                            Some((c, min, max))
                        }
                        _ => None,
                    });
                let Prep::Gemm(g) = &mut preps[i] else {
                    unreachable!("checked above")
                };
                let saved = g.fused.clone();
                let mut end = None;
                if let Some((c, min, max)) = clamp
                    && ops::try_fuse_add(graph, last_value, add, Some((min, max)), g)
                {
                    end = Some(c);
                } else {
                    g.fused = saved;
                    if ops::try_fuse_add(graph, last_value, add, None, g) {
                        end = Some(add);
                    }
                }
                if let Some(end) = end {
                    g.fused_into = Some(end);
                    fused_acc.insert(last_value);
                    members.push(add);
                    preps[step[&add] - 1] = Prep::Fused;
                    if end != add {
                        members.push(end);
                        fused_acc.insert(add);
                        preps[step[&end] - 1] = Prep::Fused;
                    }
                    preps[step[&last_value] - 1] = Prep::Fused;
                    last_value = end;
                }
            }
        }
        // Then a `lookup` of a constant table (what `fold-lookup` leaves of
        // an activation after the requantize: hard-swish, SiLU, ...). Not
        // where the convolution would take the direct AMX kernel, whose
        // store has no lookup stage.
        if let Prep::Gemm(g) = &mut preps[i]
            && !outputs.contains(&last_value)
            && !(g.conv.is_some() && g.path == DotPath::Amx && crate::shim::has_direct_conv())
            && crate::shim::has_fused_lookup()
            && let Some((lk, table)) = fusable_lookup(graph, ops_order, last_value)
            && let Some((_, fp)) = g.fused.as_mut()
        {
            fp.lut = Some(table);
            fp.signed_out = graph.ty(lk).elem.storage().is_signed();
            g.fused_into = Some(lk);
            fused_acc.insert(last_value);
            members.push(lk);
            preps[step[&last_value] - 1] = Prep::Fused;
            last_value = lk;
        } else if let Prep::Depthwise(d) = &mut preps[i]
            && !outputs.contains(&last_value)
            && let Some((lk, table)) = fusable_lookup(graph, ops_order, last_value)
            && let Some(fp) = d.fused.as_mut()
        {
            // The fused depthwise kernel has VBMI (`has_fused_depthwise`).
            fp.lut = Some(table);
            let signed = graph.ty(lk).elem.storage().is_signed();
            fp.signed_out = signed;
            d.geo.signed_out = signed as usize;
            d.fused_into = Some(lk);
            fused_acc.insert(last_value);
            members.push(lk);
            preps[step[&last_value] - 1] = Prep::Fused;
            last_value = lk;
        }
        fused_acc.insert(v);
        fused_start.insert(last_value, step[&v]);
        preps[step[&r] - 1] = Prep::Fused;
        preps[step[&last_value] - 1] = Prep::Fused;
        fused_groups.push((v, members));
    }
    let fused_names: Vec<String> = fused_groups
        .iter()
        .flat_map(|(_, m)| m.iter().map(|&x| graph.describe(x)))
        .collect();

    for (i, p) in preps.iter_mut().enumerate() {
        if let Prep::Gemm(g) = p {
            #[cfg(target_arch = "x86_64")]
            if let Some(d) = ops::direct_conv(graph, ops_order[i], g, options.threads.max(1)) {
                *p = Prep::DirectConv(Box::new(d));
                continue;
            }
            let _ = i;
            g.plan_direct();
            g.plan_units(options.threads.max(1));
        }
        if let Prep::Depthwise(d) = p {
            d.plan_units(options.threads.max(1));
        }
        if let Prep::Dyn(d) = p {
            d.plan_units(options.threads.max(1));
        }
    }
    let prepacked: Vec<String> = preps
        .iter()
        .zip(ops_order)
        .filter(|(p, _)| matches!(p, Prep::Gemm(g) if g.prepacked))
        .map(|(_, &v)| graph.describe(v))
        .collect();

    NodePlan {
        preps,
        fused_acc,
        fused_start,
        fused_names,
        fused_groups,
        prepacked,
    }
}

/// Phase 3: inputs and outputs whose tensors have the arena's layout are
/// used in place through the I/O table.
pub(crate) fn io_slots(graph: &Graph) -> IoSlots {
    // Inputs and outputs whose tensors have the arena's layout are read and
    // written in place through the I/O table (no copy in or out).
    let in_place = |v: ValueId| {
        matches!(
            graph.ty(v).elem.storage(),
            ScalarType::F32
                | ScalarType::I32
                | ScalarType::I16
                | ScalarType::U16
                | ScalarType::I8
                | ScalarType::U8
        )
    };
    let n_in = graph.inputs().len();
    let mut io_slot: HashMap<ValueId, usize> = HashMap::new();
    for (i, &v) in graph.inputs().iter().enumerate() {
        if in_place(v) {
            io_slot.insert(v, i);
        }
    }
    for (j, o) in graph.outputs().iter().enumerate() {
        if is_op(graph, o.value) && in_place(o.value) && !io_slot.contains_key(&o.value) {
            io_slot.insert(o.value, n_in + j);
        }
    }

    IoSlots { io_slot, n_in }
}

/// Phase 3: the arena offsets of every tensor and temporary.
pub(crate) fn arena_plan(
    graph: &Graph,
    sched: &Schedule,
    plan: &NodePlan,
    io: &IoSlots,
) -> ArenaPlan {
    let (order, step, last) = (&sched.order, &sched.step, &sched.last);
    let (fused_acc, fused_start, preps) = (&plan.fused_acc, &plan.fused_start, &plan.preps);
    let io_slot = &io.io_slot;
    // Memory plan.
    let mut requests = Vec::new();
    let mut owner: Vec<(ValueId, Option<usize>)> = Vec::new(); // (value, temp index)
    for &v in order {
        if matches!(graph.node(v).op, Op::Const(_)) {
            continue;
        }
        requests.push(Request {
            size: if fused_acc.contains(&v) || io_slot.contains_key(&v) {
                0
            } else {
                elem_bytes(graph, v)
            },
            start: fused_start.get(&v).copied().unwrap_or(step[&v]),
            end: last[&v],
        });
        owner.push((v, None));
        if is_op(graph, v) {
            let i = step[&v] - 1;
            for (t, size) in preps[i].temps().into_iter().enumerate() {
                requests.push(Request {
                    size,
                    start: step[&v],
                    end: step[&v],
                });
                owner.push((v, Some(t)));
            }
        }
    }
    let (offsets, arena_size) = plan::place(&requests);
    let mut value_off = HashMap::new();
    let mut temps: HashMap<ValueId, Vec<usize>> = HashMap::new();
    for (&(v, t), &off) in owner.iter().zip(&offsets) {
        match t {
            None => {
                value_off.insert(v, off);
            }
            Some(_) => temps.entry(v).or_default().push(off),
        }
    }

    ArenaPlan {
        value_off,
        temps,
        arena_size,
    }
}

/// Phase 4: the constants read as written become read-only data.
pub(crate) fn constants(
    module: &mut dyn Module,
    graph: &Graph,
    sched: &Schedule,
    plan: &NodePlan,
) -> Constants {
    let (order, ops_order, preps) = (&sched.order, &sched.ops_order, &plan.preps);
    let mut data_ids: Vec<DataId> = Vec::new();
    let mut counter = 0usize;
    let mut const_data: HashMap<ValueId, (DataId, usize)> = HashMap::new();
    // Constants that only GEMMs read as weights are never read as written:
    // the GEMM has its own packed copy.
    let mut read_as_is: HashSet<ValueId> = graph.outputs().iter().map(|o| o.value).collect();
    for (i, &v) in ops_order.iter().enumerate() {
        for (j, a) in graph.args(v).into_iter().enumerate() {
            if !(j == 1 && matches!(preps[i], Prep::Gemm(_) | Prep::Nbits(_) | Prep::Dyn(_))) {
                read_as_is.insert(a);
            }
        }
    }
    for &v in order {
        if let Op::Const(c) = &graph.node(v).op
            && read_as_is.contains(&v)
        {
            // Read as written: in logical order (a packed constant that is
            // not only a GEMM's weights is unpacked).
            let data = c.logical(graph.ty(v));
            let id = lower::declare_rodata(module, &mut counter, ek_bytes(&data));
            const_data.insert(v, (id, data_ids.len()));
            data_ids.push(id);
        }
    }
    Constants {
        const_data,
        data_ids,
        counter,
    }
}

/// What the emitted code may call and which architecture it is for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EmitTarget {
    /// No Rust helper may be called (an object file).
    pub portable: bool,
    pub aarch64: bool,
}

impl EmitTarget {
    /// The JIT: the host's architecture, every shim helper.
    pub fn jit() -> EmitTarget {
        EmitTarget {
            portable: false,
            aarch64: cfg!(target_arch = "aarch64"),
        }
    }
}

/// Phase 5: one function per op phase; lowering reads the plan.
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit(
    module: &mut dyn Module,
    graph: &Graph,
    sched: &Schedule,
    plan: &NodePlan,
    io: &IoSlots,
    arena: &ArenaPlan,
    consts: &mut Constants,
    options: &CodegenOptions,
    target: EmitTarget,
) -> Result<Emitted, CodegenError> {
    let (ops_order, preps) = (&sched.ops_order, &plan.preps);
    let (io_slot, value_off, temps) = (&io.io_slot, &arena.value_off, &arena.temps);
    let const_data = &consts.const_data;
    let counter = &mut consts.counter;
    let bufs = |v: ValueId| -> Buf {
        let ek = Ek::of(graph.ty(v).elem.storage());
        if let Some(&i) = io_slot.get(&v) {
            return Buf {
                loc: Loc::Io(i),
                ek,
            };
        }
        match const_data.get(&v) {
            Some(&(id, _)) => Buf {
                loc: Loc::Data(id),
                ek,
            },
            // A GEMM's weights (see `read_as_is`): never dereferenced.
            None if matches!(graph.node(v).op, Op::Const(_)) => Buf {
                loc: Loc::Arena(0),
                ek,
            },
            None => Buf {
                loc: Loc::Arena(value_off[&v]),
                ek,
            },
        }
    };
    let mut fctx = FunctionBuilderContext::new();
    let mut ctx = module.make_context();
    let mut func_ids: Vec<FuncId> = Vec::new();
    let mut text = Vec::new();
    let mut steps = Vec::new();
    let mut extra_data = Vec::new();
    let mut exec = Vec::new();
    for (i, &v) in ops_order.iter().enumerate() {
        let node = graph.node(v);
        steps.push((graph.describe(v), node.op.name()));
        for phase in 0..preps[i].phases() {
            let name = format!("qcc_op_{i}_{phase}");
            let mut sig = module.make_signature();
            sig.params.extend([AbiParam::new(lower::I64); 4]);
            let fid = module
                .declare_function(&name, Linkage::Local, &sig)
                .map_err(|e| CodegenError::Backend(e.to_string()))?;
            ctx.func.signature = sig;
            ctx.func.name = UserFuncName::user(0, func_ids.len() as u32);
            let tcfg = module.target_config();
            {
                let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
                let entry = b.create_block();
                b.append_block_params_for_function_params(entry);
                b.switch_to_block(entry);
                let [arena, io, t0, t1] =
                    <[_; 4]>::try_from(b.block_params(entry)).expect("four parameters");
                let mut fx = Fx {
                    b,
                    arena,
                    io,
                    t0,
                    t1,
                    module,
                    portable: target.portable,
                    aarch64: target.aarch64,
                    new_data: &mut extra_data,
                    data_counter: counter,
                };
                let t = temps.get(&v).cloned().unwrap_or_default();
                ops::lower(&mut fx, graph, v, &bufs, &preps[i], &t, phase)?;
                fx.b.ins().return_(&[]);
                fx.b.seal_all_blocks();
                fx.b.finalize(tcfg);
            }
            let clif = if options.keep_text {
                ctx.func.display().to_string()
            } else {
                String::new()
            };
            ctx.set_disasm(options.keep_text);
            module
                .define_function(fid, &mut ctx)
                .map_err(|e| CodegenError::Backend(format!("{}: {e:?}", graph.describe(v))))?;
            if options.keep_text {
                let cc = ctx.compiled_code();
                text.push(OpCode {
                    node: graph.describe(v),
                    op: node.op.name(),
                    clif,
                    asm: cc.and_then(|c| c.vcode.clone()).unwrap_or_default(),
                    code: cc.map(|c| c.code_buffer().to_vec()).unwrap_or_default(),
                });
            }
            module.clear_context(&mut ctx);
            exec.push((
                jit::Step {
                    func: func_ids.len(),
                    tasks: preps[i].units(phase),
                },
                i,
            ));
            func_ids.push(fid);
        }
    }
    Ok(Emitted {
        func_ids,
        text,
        steps,
        exec,
    })
}

/// Where each output's bytes come from after the code ran.
pub(crate) fn output_sources(
    graph: &Graph,
    io: &IoSlots,
    arena: &ArenaPlan,
    consts: &Constants,
) -> Vec<OutSrc> {
    let (io_slot, n_in) = (&io.io_slot, io.n_in);
    graph
        .outputs()
        .iter()
        .enumerate()
        .map(|(j, o)| {
            let first = graph.outputs().iter().position(|p| p.value == o.value);
            match (consts.const_data.get(&o.value), io_slot.get(&o.value)) {
                (Some(&(_, i)), _) => OutSrc::Data(i),
                (None, Some(&i)) if i < n_in => OutSrc::Input(i),
                (None, Some(&i)) if i == n_in + j => OutSrc::Io,
                (None, Some(_)) => OutSrc::Output(first.unwrap_or(0)),
                (None, None) => OutSrc::Arena(arena.value_off[&o.value]),
            }
        })
        .collect()
}

/// Phase 6: the machine code, the run-time signature, the `Executable`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finalize(
    module: cranelift_jit::JITModule,
    graph: &Graph,
    plan: NodePlan,
    io: IoSlots,
    arena: ArenaPlan,
    consts: Constants,
    emitted: Emitted,
    path: DotPath,
    options: &CodegenOptions,
) -> Result<Executable, CodegenError> {
    let io_slot = &io.io_slot;
    let (value_off, arena_size) = (&arena.value_off, arena.arena_size);
    let Emitted {
        func_ids,
        text,
        steps,
        exec,
    } = emitted;
    let code = JitCode::finalize(module, &func_ids, &consts.data_ids, arena_size)?;
    let inputs = graph
        .inputs()
        .iter()
        .map(|&v| {
            let node = graph.node(v);
            let ty = &node.ty;
            InputSlot {
                sig: qcc_ir::signature::InputSig {
                    name: node.name.clone().unwrap_or_default(),
                    ty: ty.clone(),
                },
                offset: (!io_slot.contains_key(&v)).then(|| value_off[&v]),
            }
        })
        .collect();
    let outputs = graph
        .outputs()
        .iter()
        .zip(output_sources(graph, &io, &arena, &consts))
        .map(|(o, src)| {
            let ty = graph.ty(o.value);
            OutputSlot {
                src,
                storage: ty.elem.storage(),
                shape: ty.shape.clone(),
                len: ty.shape.iter().product(),
            }
        })
        .collect();
    let io_sizes = graph
        .inputs()
        .iter()
        .copied()
        .chain(graph.outputs().iter().map(|o| o.value))
        .enumerate()
        .map(|(i, v)| {
            if io_slot.get(&v) == Some(&i) {
                elem_bytes(graph, v)
            } else {
                0
            }
        })
        .collect();
    Ok(Executable {
        code,
        steps,
        exec: exec.iter().map(|&(s, _)| s).collect(),
        exec_op: exec.iter().map(|&(_, op)| op).collect(),
        io_sizes,
        threads: options.threads.max(1),
        thread_pool: std::sync::OnceLock::new(),
        inputs,
        outputs,
        arena_size,
        pool: Mutex::new(Vec::new()),
        text,
        path,
        fused: plan.fused_names,
        fused_groups: plan.fused_groups,
        prepacked: plan.prepacked,
    })
}

/// The `lookup` that is `x`'s only user, with its constant 256-entry table
/// as bytes, when `x` is 8-bit per tensor (or plain): the fused store can
/// end with it.
fn fusable_lookup(graph: &Graph, order: &[ValueId], x: ValueId) -> Option<(ValueId, [u8; 256])> {
    let users: Vec<ValueId> = order
        .iter()
        .copied()
        .filter(|&u| graph.args(u).contains(&x))
        .collect();
    let [lk] = users[..] else { return None };
    if !matches!(graph.node(lk).op, Op::Lookup) || graph.args(lk)[0] != x {
        return None;
    }
    let xt = graph.ty(x);
    if xt.elem.storage().bits() != 8 || xt.elem.as_quant().is_some_and(|q| q.axis.is_some()) {
        return None;
    }
    let c = graph.node(graph.args(lk)[1]).op.as_const()?;
    let vals = c.data.to_i64s()?;
    if vals.len() != 256 {
        return None;
    }
    let mut t = [0u8; 256];
    for (b, v) in t.iter_mut().zip(vals) {
        *b = v as u8;
    }
    Some((lk, t))
}
