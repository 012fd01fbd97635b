//! Typing rules whose bad graphs the text format cannot express; every other
//! bad graph of an op is a `testsuite/errors/` case.

use super::*;
use crate::op::{Pool2dAttrs, RequantMode};

// Kept as an API test: the text format cannot express it (the printer leaves
// out the attributes maxpool2d does not take, so the printed graph is valid).
#[test]
fn maxpool_takes_no_avgpool_attributes() {
    let mut a = Pool2dAttrs::new([2, 2]);
    a.count_include_pad = true;
    a.mode = RequantMode::DoubleRound;
    let g = single(
        Op::MaxPool2d(a),
        &[f32t(&[1, 1, 4, 4])],
        f32t(&[1, 1, 3, 3]),
    );
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("`count_include_pad` is an attribute of avgpool2d, not maxpool2d"));
    assert!(
        msgs[1].contains("`mode` is not an attribute of maxpool2d (found mode = double_round)")
    );
}
