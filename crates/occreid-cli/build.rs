include!("../occreid-torch/link.rs");
fn main() {
    // The `occreid` front binary must not load libtorch (its start-up alone costs ~0.9 s and ~460 MiB,
    // more than a Market-scale evaluation): only `occreid-full` and the tests link it.
    link_libtorch_for(&["rustc-link-arg-bin=occreid-full", "rustc-link-arg-tests"]);
}
