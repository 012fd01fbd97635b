use super::*;

const MLP: &str = r#"// A two-layer MLP in QDQ form.
!act = !quant.uniform<u8:f32, 0.0235:128>
!w1  = !quant.uniform<i8:f32:0, {0.012:0, 0.0098:0}>

graph @mlp(%x: tensor<1x4xf32>) -> (%y: tensor<1x2xf32>) {
  %xq = quantize %x : tensor<1x4x!act>
  %xd = dequantize %xq : tensor<1x4xf32>
  %w  = const dense<[1, -2, 3, 4, 5, 6, -7, 8]> : tensor<2x4x!w1>
  %wd = dequantize %w : tensor<2x4xf32>
  %b  = const dense<[0.5, -0.25]> : tensor<2xf32>
  %h  = dense %xd, %wd, %b : tensor<1x2xf32>
  %r  = relu %h : tensor<1x2xf32>
  return %r
}
"#;

#[test]
fn smoke() {
    let g = match parse(MLP, None) {
        Ok(g) => g,
        Err(d) => panic!("{}", crate::diag::render(&d, "mlp.txt", MLP)),
    };
    let text = print(&g);
    println!("{text}");
    let g2 = parse(&text, None).unwrap();
    assert!(g == g2);
    assert_eq!(print(&g2), text);
}
