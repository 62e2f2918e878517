include!("../occreid-torch/link.rs");
fn main() {
    link_libtorch();
}
